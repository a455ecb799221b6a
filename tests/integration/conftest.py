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


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    state = tmp_path_factory.mktemp("local") / "stack.json"
    api_port, aws_port, custobar_port, voyado_port, os_port, storyous_port, control_port = (
        free_port() for _ in range(7)
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers/shared'}:{ROOT}"}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "loyalty_hub_dev.local",
            "--no-demo",
            "--api-port",
            str(api_port),
            "--aws-port",
            str(aws_port),
            "--custobar-port",
            str(custobar_port),
            "--voyado-port",
            str(voyado_port),
            "--orderingstack-port",
            str(os_port),
            "--storyous-port",
            str(storyous_port),
            "--control-port",
            str(control_port),
            "--state",
            str(state),
            "--trace-calls",
            str(state.parent / "calls.jsonl"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if not wait_for(state.is_file, timeout=60):
        process.kill()
        raise RuntimeError(f"the local stack did not start:\n{process.communicate()[0]}")
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
