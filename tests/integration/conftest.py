"""The local stack as a separate process, reached only over loopback HTTP and its moto endpoint."""

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loyalty_hub_dev.admin import Admin, Target
from loyalty_hub_dev.local.client import wait_for
from loyalty_hub_dev.local.template import ROOT

pytestmark = [pytest.mark.integration]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Running:
    api_url: str
    custobar_url: str
    voyado_url: str
    orderingstack_url: str
    storyous_url: str
    control_url: str
    state: Path
    process: subprocess.Popen[str]

    def admin(self) -> Admin:
        return Admin(Target.from_local(self.state))


@pytest.fixture(autouse=True)
def _isolated_environment() -> Iterator[None]:
    """Replaces the unit tests' fixture: here the process environment points at the local stack."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def start_local_stack(state: Path, ports: dict[str, int], *flags: str, timeout: float = 60) -> subprocess.Popen[str]:
    """`python -m loyalty_hub_dev.local` on these ports, writing `state`; returns once it is up."""
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
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if not wait_for(state.is_file, timeout=timeout):
        process.kill()
        raise RuntimeError(f"the local stack did not start:\n{process.communicate()[0]}")
    return process


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    state = tmp_path_factory.mktemp("local") / "stack.json"
    names = ("api", "aws", "custobar", "voyado", "orderingstack", "storyous", "control")
    ports = {name: free_port() for name in names}
    process = start_local_stack(state, ports, "--no-demo", "--trace-calls", str(state.parent / "calls.jsonl"))
    api_port, custobar_port, voyado_port, os_port, storyous_port, control_port = (
        ports[n] for n in ("api", "custobar", "voyado", "orderingstack", "storyous", "control")
    )
    loopback = "http://127.0.0.1"
    yield Running(
        f"{loopback}:{api_port}",
        f"{loopback}:{custobar_port}",
        f"{loopback}:{voyado_port}",
        f"{loopback}:{os_port}",
        f"{loopback}:{storyous_port}",
        f"{loopback}:{control_port}",
        state,
        process,
    )
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
