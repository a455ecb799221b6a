# One entry point, the same locally and in CI. Python 3.13 matches the Lambda runtime (.python-version).
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export AWS_DEFAULT_REGION ?= eu-central-1
export SAM_CLI_TELEMETRY := 0
export PYENV_VERSION := 3.13.0:3.11.7

UV_VERSION := 0.13.9
export UV := $(abspath .tools/bin/uv)
RUN := $(UV) run --frozen
SAM := $(UV) run --frozen --project tools/sam sam
# BC_SKIP_MAPPING: no call home for guideline links (CI has no network beyond the package registries)
CHECKOV := BC_SKIP_MAPPING=TRUE $(UV) run --frozen --project tools/checkov checkov
PY_SOURCES := layers/shared/loyalty_hub dev/loyalty_hub_dev functions tests benchmarks tools/translate.py tools/file_sizes.py tools/module_map.py

.PHONY: setup lock lint format unit integration validate build test bench clean run admin invoke fire openapi

$(UV):  # uv itself, pinned, in a private venv: nothing but python3.13 is assumed on the machine
	python3.13 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

setup: $(UV)  ## .venv (project + dev tools) and the separate SAM CLI and checkov environments, from the lock files
	@$(UV) sync --frozen --quiet
	@$(UV) sync --frozen --quiet --project tools/sam
	@$(UV) sync --frozen --quiet --project tools/checkov

lock: $(UV)  ## re-resolve dependencies and re-export the layer's pinned requirements
	$(UV) lock
	$(UV) lock --project tools/sam
	$(UV) lock --project tools/checkov
	$(UV) export --frozen --no-dev --no-emit-project --format requirements-txt -o layers/shared/requirements.txt

lint: setup  ## ruff, mypy --strict, cfn-lint and checkov (skips justified in .checkov.yaml)
	$(RUN) ruff check $(PY_SOURCES)
	$(RUN) ruff format --check $(PY_SOURCES)
	$(RUN) mypy
	$(RUN) lint-imports --no-cache  # the layers in pyproject.toml [tool.importlinter]
	@$(RUN) python tools/file_sizes.py 300 layers/shared/loyalty_hub dev/loyalty_hub_dev functions benchmarks tools
	@$(UV) export --frozen --no-dev --no-emit-project --format requirements-txt --no-header \
		| diff -q - <(grep -v '^#' layers/shared/requirements.txt) >/dev/null \
		|| { echo "layers/shared/requirements.txt is stale: run 'make lock'"; exit 1; }
	$(SAM) validate --lint
	$(CHECKOV) --config-file .checkov.yaml -f template.yaml

format: setup
	$(RUN) ruff check --fix $(PY_SOURCES)
	$(RUN) ruff format $(PY_SOURCES)

unit: setup  ## unit and property tests (no network)
	$(RUN) pytest tests/unit tests/property -q

integration: setup  ## the local stack in its own process, driven over loopback HTTP
	$(RUN) pytest tests/integration -q

validate: setup  ## cfn-lint through SAM
	$(SAM) validate --lint

build: setup  ## sam build: arm64 layer with hash-based .pyc, no Docker needed
	$(SAM) build --parallel

test: lint unit integration build  ## what CI runs (lint includes sam validate --lint)

bench: setup  ## performance figures, printed as ratios measured in one run
	PYTHONPATH=layers/shared:dev:. $(RUN) python -m benchmarks

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis

run: setup  ## the local stack (moto + API on http://127.0.0.1:3000) with a demo tenant; Ctrl-C stops it
	PYTHONPATH=layers/shared:dev:. $(RUN) python -m loyalty_hub_dev.local $(ARGS)

openapi: setup  ## rewrite functions/customer_api/openapi.json from the models (a test checks it is current)
	PYTHONPATH=layers/shared:dev $(RUN) python -m loyalty_hub_dev.openapi

admin: setup  ## tenant administration, e.g. make admin ARGS="--local list" (the same as .venv/bin/loyalty-hub)
	@$(RUN) loyalty-hub $(ARGS)

invoke: setup  ## one function in-process against the running local stack: make invoke FN=WebhookFunction EVENT=events/webhook/bills-post.json
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<logical id> EVENT=events/<file>"; exit 2; }
	@PYTHONPATH=layers/shared:dev:. $(RUN) python -m loyalty_hub_dev.local.invoke $(FN) $(EVENT)

fire: setup  ## run a scheduled function now in the running local stack: make fire FN=StoryousPullFunction
	@test -n "$(FN)" || { echo "usage: make fire FN=<logical id of a scheduled function>"; exit 2; }
	@PYTHONPATH=layers/shared:dev:. $(RUN) python -m loyalty_hub_dev.local.invoke --fire $(FN)
