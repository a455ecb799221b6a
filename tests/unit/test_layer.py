"""What ships: the layer holds the runtime package, built from an allow-list, and the locked runtime
dependencies; development tooling (dev/loyalty_hub_dev: the admin command, the local stack, the
sandboxes) never reaches it."""

import re
import subprocess
from pathlib import Path

from loyalty_hub_dev.local.template import ROOT

RUNTIME = ROOT / "layers/shared/loyalty_hub"
DEV_ONLY = {
    "moto",
    "pytest",
    "hypothesis",
    "werkzeug",
    "schemathesis",
    "mypy",
    "ruff",
    "boto3-stubs",
    "pyyaml",
    "pydantic",
}


def _package(tmp_path: Path) -> Path:
    subprocess.run(  # noqa: S603 - our own Makefile, fixed arguments
        ["make", "-s", "-C", str(ROOT / "layers/shared"), "package", f"ARTIFACTS_DIR={tmp_path}"],  # noqa: S607
        check=True,
        capture_output=True,
        timeout=60,
    )
    return tmp_path / "python/loyalty_hub"


def test_the_layer_ships_the_runtime_modules_and_nothing_else(tmp_path: Path) -> None:
    shipped = _package(tmp_path)
    files = sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file())
    assert files and all(f.suffix == ".py" for f in files)
    assert files == sorted(p.relative_to(RUNTIME) for p in RUNTIME.rglob("*.py") if "__pycache__" not in p.parts)
    assert not list((tmp_path / "python").glob("loyalty_hub_dev*"))


def test_the_runtime_package_holds_no_development_tooling() -> None:
    names = {p.name for p in RUNTIME.iterdir()}
    assert not names & {"admin.py", "local", "sandboxes", "secret_admin.py"}
    sources = "\n".join(p.read_text() for p in RUNTIME.rglob("*.py"))
    assert "loyalty_hub_dev" not in sources and "import moto" not in sources and "from moto" not in sources


def test_the_layer_requirements_are_the_runtime_dependencies_only() -> None:
    pinned = {
        line.split("==")[0].strip().lower()
        for line in (ROOT / "layers/shared/requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }
    assert {"aws-lambda-powertools", "msgspec", "orjson"} <= pinned
    assert "pydantic" not in pinned  # D49: the runtime models are msgspec Structs
    assert not pinned & DEV_ONLY


def test_the_layer_keeps_the_model_of_every_aws_service_the_code_calls() -> None:
    makefile = (ROOT / "layers/shared/Makefile").read_text()
    kept = set(re.search(r"^BOTOCORE_SERVICES := (.*)$", makefile, re.M).group(1).split())  # type: ignore[union-attr]
    code = "\n".join(p.read_text() for p in [*RUNTIME.rglob("*.py"), *(ROOT / "functions").rglob("*.py")])
    called = set(re.findall(r'aws\.client\("(\w+)"\)', code)) | {"secretsmanager"}  # Powertools' get_secret
    assert called and called <= kept
    assert kept <= called | {"dynamodbstreams"}  # nothing kept that nothing calls
