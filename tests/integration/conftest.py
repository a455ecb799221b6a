"""The local stack as a separate process, reached only over loopback HTTP and its moto endpoint."""

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loyalty_hub_dev.admin import Admin, Target
from tests.support.local import free_port, start_local_stack

pytestmark = [pytest.mark.integration]


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
