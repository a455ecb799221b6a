"""template.yaml as CloudFormation receives it after `sam deploy`: SAM's transform applied, code URIs
as `sam package` leaves them. Runs in the SAM CLI environment (tools/sam), which has samtranslator:
    uv run --frozen --project tools/sam python tools/translate.py > translated.json
"""

import json
import sys
from pathlib import Path

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[1]


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}  # SAM resolves managed-policy names through IAM; the template uses none by name


def main() -> None:
    template = yaml_parse((ROOT / "template.yaml").read_text())
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://sam-artifacts/{properties[key]}.zip"  # what `sam package` writes
    json.dump(transform(template, {}, _NoManagedPolicies()), sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
