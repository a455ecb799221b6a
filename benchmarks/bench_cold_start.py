"""Part 0: handler import time, the cold-start proxy, against the floor of boto3 and the same clients.

The layer is built as `sam build` builds it (layers/shared/Makefile), for this machine's platform, and
every file is dated 1980-01-01 as in SAM's zips. Each measurement is a fresh interpreter with
PYTHONDONTWRITEBYTECODE=1 (Lambda's /opt is read-only): importing the handler and building what its
first invocation builds (settings, clients), vs importing boto3 and creating the same clients.
The same layer with timestamp-based .pyc shows what the hash-based ones save.
"""

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from loyalty_hub_dev.local.template import ROOT

RUNS = 9
SAM_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the date SAM writes into every zip entry
ENV = {
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "loyalty-hub",
    "POWERTOOLS_METRICS_NAMESPACE": "LoyaltyHub",
    "TENANTS_TABLE": "t",
    "SECRETS_PREFIX": "p",
    "RAW_BUCKET": "b",
    "INGEST_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/1/q.fifo",
    "ENTITIES_TABLE": "e",
    "CUSTOMERS_TABLE": "c",
    "SNAPSHOT_BUCKET": "s",
}
# Per function: what its first invocation builds, and the boto3 clients that amounts to.
FUNCTIONS = {
    "webhook": ("from loyalty_hub.logic.webhook import default_deps; default_deps()", ["dynamodb", "s3", "sqs"]),
    "ingest": ("from loyalty_hub.logic.ingest import default_deps; default_deps()", ["dynamodb", "s3"]),
    "customer_api": ("from loyalty_hub.logic.customer_api import default_deps; default_deps()", ["dynamodb", "s3"]),
}


def build_layer(target: Path, pyc: str) -> Path:
    machine = {"x86_64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[platform.machine()]
    make = shutil.which("make") or "make"
    subprocess.run(  # noqa: S603 - our own Makefile
        [
            make,
            "-s",
            "-C",
            str(ROOT / "layers/shared"),
            "build-SharedLayer",
            f"ARTIFACTS_DIR={target}",
            f"PLATFORM={machine}-manylinux2014",
            f"PYC={pyc}",
            f"PYTHON={sys.executable}",
        ],
        check=True,
    )
    for path in target.rglob("*"):
        os.utime(path, (SAM_EPOCH, SAM_EPOCH), follow_symlinks=False)
    return target / "python"


def timed(code: str, path: list[Path]) -> float:
    """Median wall time, in ms, of `code` in fresh interpreters that see only `path`."""
    probe = f"import time; t = time.perf_counter()\n{code}\nprint((time.perf_counter() - t) * 1000)"
    env = {
        **ENV,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join(map(str, path)),
        "PATH": os.environ["PATH"],
    }
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(  # noqa: S603 - this interpreter, our own probe
            [sys.executable, "-I", "-B", "-c", f"import sys; sys.path[:0] = {[str(p) for p in path]!r}\n{probe}"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def main() -> None:
    print(f"== cold start: handler import + first-invocation setup, {RUNS} fresh interpreters each, median")
    with tempfile.TemporaryDirectory() as tmp:
        hashed = build_layer(Path(tmp) / "hashed", "unchecked-hash")
        stamped = build_layer(Path(tmp) / "stamped", "timestamp")
        for name, (setup, clients) in FUNCTIONS.items():
            function = Path(tmp) / "functions" / name
            shutil.copytree(ROOT / "functions" / name, function)
            for path in function.rglob("*"):
                os.utime(path, (SAM_EPOCH, SAM_EPOCH))
            floor = timed(
                "import boto3; s = boto3.session.Session(); " + "; ".join(f"s.client({c!r})" for c in clients),
                [hashed],
            )
            ours = timed(f"import app; {setup}", [function, hashed])
            stale = timed(f"import app; {setup}", [function, stamped])
            print(
                f"{name}: {ours:.0f} ms; floor (boto3 + {', '.join(clients)} clients) {floor:.0f} ms; "
                f"ratio {ours / floor:.2f} (target <= 1.30); with timestamp .pyc {stale:.0f} ms ({stale / ours:.1f}x)"
            )
