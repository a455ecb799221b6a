"""Part 0: cold start of each of the nine handlers against its floor: importing boto3 and creating the
same clients.

The layer is built as `sam build` builds it (layers/shared/Makefile), for this machine's platform, into
the bench's own folder as real copies (UV_LINK_MODE=copy: uv would otherwise hard-link its cache, and
re-dating those files would re-date the cache), every file dated 1980-01-01 as in SAM's zips. Each
sample is a fresh interpreter with PYTHONDONTWRITEBYTECODE=1 (Lambda's /opt is read-only): importing
the handler and building what its first invocation builds, vs boto3 and the same clients. Floor and
handler samples alternate run by run; the ratio printed is the median of the pairwise ratios. A copy
of the layer without any .pyc shows what the hash-based .pyc save.
"""

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from loyalty_hub_dev.local.template import ROOT

PAIRS, PYC_PAIRS = 15, 5
SAM_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the date SAM writes into every zip entry
QUEUES = json.dumps(
    {v: f"https://sqs.eu-central-1.amazonaws.com/1/{v}" for v in ("custobar", "voyado", "orderingstack")}
)
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
    "QUARANTINE_TABLE": "q",
    "SYNC_STATE_TABLE": "y",
    "RATE_LIMIT_TABLE": "r",
    "VENDOR_LEDGER_TABLE": "l",
    "VENDOR_QUEUES": QUEUES,
    "VENDOR_DEAD_LETTER_QUEUES": QUEUES,
    "WATCHED_QUEUES": "{}",
    "CAPTURE_FAILURE_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/1/f",
    "STORYOUS_API_URL": "https://api.storyous.com",
    "STORYOUS_AUTH_URL": "https://login.storyous.com/api/auth/authorize",
}
# Per handler: its code folder, what its first invocation builds, and the boto3 clients that amounts to.
FUNCTIONS = {
    "webhook": ("webhook", "from loyalty_hub.logic.webhook import default_deps; default_deps()",
                ["dynamodb", "s3", "sqs"]),
    "ingest": ("ingest", "from loyalty_hub.logic.ingest import default_deps; default_deps()", ["dynamodb", "s3"]),
    "customer_api": ("customer_api", "from loyalty_hub.logic.customer_api import default_deps; default_deps()",
                     ["dynamodb", "s3"]),
    "capture": ("capture", "from loyalty_hub.logic.capture import default_deps; default_deps()", ["dynamodb", "sqs"]),
    "custobar": ("vendors", "app.custobar; from loyalty_hub.vendors.wiring import vendor; vendor('custobar')",
                 ["dynamodb", "sqs"]),
    "voyado": ("vendors", "app.voyado; from loyalty_hub.vendors.wiring import vendor; vendor('voyado')",
               ["dynamodb", "sqs"]),
    "orderingstack": ("vendors", "app.orderingstack; from loyalty_hub.vendors.wiring import vendor; "
                      "vendor('orderingstack')", ["dynamodb", "sqs"]),
    "storyous_pull": ("storyous_pull", "from loyalty_hub.logic.pull import default_deps; default_deps()",
                      ["dynamodb", "s3", "sqs"]),
    "reconcile": ("reconcile", "from loyalty_hub.logic.reconcile import default_deps; default_deps()",
                  ["sqs", "dynamodb", "dynamodbstreams"]),
}  # fmt: skip


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
        env={**os.environ, "UV_LINK_MODE": "copy"},  # real files: re-dating them must not re-date uv's cache
    )
    for path in target.rglob("*"):
        os.utime(path, (SAM_EPOCH, SAM_EPOCH), follow_symlinks=False)
    return target / "python"


def sample(code: str, path: list[Path]) -> float:
    """Wall time, in ms, of `code` in a fresh interpreter that sees only `path`."""
    probe = f"import time; t = time.perf_counter()\n{code}\nprint((time.perf_counter() - t) * 1000)"
    env = {
        **ENV,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join(map(str, path)),
        "PATH": os.environ["PATH"],
    }
    out = subprocess.run(  # noqa: S603 - this interpreter, our own probe
        [sys.executable, "-I", "-B", "-c", f"import sys; sys.path[:0] = {[str(p) for p in path]!r}\n{probe}"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def pairs(first: tuple[str, list[Path]], second: tuple[str, list[Path]], count: int) -> list[tuple[float, float]]:
    """`count` samples of each, alternating run by run (which goes first alternates too)."""
    taken = []
    for i in range(count):
        if i % 2:
            b = sample(*second)
            a = sample(*first)
        else:
            a = sample(*first)
            b = sample(*second)
        taken.append((a, b))
    return taken


def _copy_without_pyc(layer: Path, target: Path) -> Path:
    shutil.copytree(layer, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def main() -> None:
    print(
        f"== cold start: handler import + first-invocation setup vs boto3 + the same clients, {PAIRS} interleaved pairs"
    )
    with tempfile.TemporaryDirectory() as tmp:
        hashed = build_layer(Path(tmp) / "hashed", "unchecked-hash")
        bare = _copy_without_pyc(hashed, Path(tmp) / "bare")
        only = os.environ.get("BENCH_FUNCTIONS", "").split(",")  # e.g. BENCH_FUNCTIONS=webhook,ingest
        for name, (folder, setup, clients) in FUNCTIONS.items():
            if only != [""] and name not in only:
                continue
            function = Path(tmp) / "functions" / folder
            if not function.exists():
                shutil.copytree(ROOT / "functions" / folder, function)
                for path in function.rglob("*"):
                    os.utime(path, (SAM_EPOCH, SAM_EPOCH))
            floor_code = "import boto3; s = boto3.session.Session(); " + "; ".join(f"s.client({c!r})" for c in clients)
            taken = pairs((floor_code, [hashed]), (f"import app; {setup}", [function, hashed]), PAIRS)
            floors, ours = [a for a, _ in taken], [b for _, b in taken]
            ratio = statistics.median(b / a for a, b in taken)
            without = pairs((f"import app; {setup}", [function, hashed]), (f"import app; {setup}", [function, bare]),
                            PYC_PAIRS)  # fmt: skip
            pyc = statistics.median(b / a for a, b in without)
            print(
                f"{name:<14} ours min {min(ours):.0f} / median {statistics.median(ours):.0f} ms; floor min "
                f"{min(floors):.0f} / median {statistics.median(floors):.0f} ms; ratio {ratio:.2f} (target <= 1.30); "
                f"without .pyc {pyc:.1f}x; load {os.getloadavg()[0]:.1f}"
            )
