"""The docs say what the code does: the module map is the code's own imports, the OpenAPI document the
models', every decision the code cites exists, and the README's links resolve."""

import re
import sys

from loyalty_hub_dev.local.template import ROOT


def test_the_architecture_module_map_is_the_codes_own() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from module_map import module_map  # noqa: PLC0415
    finally:
        sys.path.remove(str(ROOT / "tools"))
    assert module_map() in (ROOT / "docs/architecture.md").read_text()


def test_the_served_openapi_document_is_what_the_models_say() -> None:
    from loyalty_hub_dev.openapi import TARGET, rendered  # noqa: PLC0415

    assert TARGET.read_bytes() == rendered(), "run 'make openapi'"


def test_every_decision_the_code_and_docs_cite_is_written_down() -> None:
    decisions = set(re.findall(r"^## (D\d+)\.", (ROOT / "docs/decisions.md").read_text(), re.M))
    cited = set()
    for path in [*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md"), *(ROOT / "layers").rglob("*.py"),
                 *(ROOT / "dev").rglob("*.py"), ROOT / "template.yaml"]:  # fmt: skip
        cited |= set(re.findall(r"\bD(\d+)\b", path.read_text()))
    assert {f"D{n}" for n in cited} <= decisions


def test_the_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)
    assert targets and [t for t in targets if not (ROOT / t).exists()] == []
