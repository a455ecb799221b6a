"""template.yaml after SAM's transform, as CloudFormation receives it (tools/translate.py, run in the
SAM CLI environment, which alone has samtranslator: its pydantic pin differs from the functions')."""

import json
import os
import subprocess
from functools import cache
from typing import Any

from loyalty_hub_dev.local.template import ROOT


@cache
def translated() -> dict[str, Any]:
    uv = os.environ.get("UV", str(ROOT / ".tools/bin/uv"))
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [uv, "run", "--frozen", "--quiet", "--project", "tools/sam", "python", "tools/translate.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": "eu-central-1"},
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tools/translate.py failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
