"""The local stack as a separate process on free loopback ports (integration tests and the latency bench)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from loyalty_hub_dev.local.client import wait_for
from loyalty_hub_dev.local.template import ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_local_stack(
    state: Path, ports: dict[str, int], *flags: str, timeout: float = 60, console: Path | None = None
) -> subprocess.Popen[str]:
    """`python -m loyalty_hub_dev.local` on these ports, writing `state`; returns once it is up. Its
    console goes to a pipe, or to the file `console` for a long run (a pipe nobody reads fills and stalls it)."""
    output = console.open("w") if console else subprocess.PIPE
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers/shared'}:{ROOT / 'dev'}:{ROOT}"}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "loyalty_hub_dev.local",
            *(f"--{name}-port={port}" for name, port in ports.items()),
            "--state",
            str(state),
            *flags,
        ],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if not wait_for(state.is_file, timeout=timeout):
        process.kill()
        printed = console.read_text() if console else process.communicate()[0]
        raise RuntimeError(f"the local stack did not start:\n{printed}")
    return process
