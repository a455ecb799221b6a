"""The README's local walk-through, run as written against a local stack with the demo tenant: each
command block must work, so the README cannot drift from what the stack does. Only the ports (free
ones here) and the state file differ from `make run`'s."""

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from loyalty_hub_dev.local.client import wait_for
from loyalty_hub_dev.local.template import ROOT
from tests.support.local import free_port, start_local_stack

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket, pytest.mark.allow_hosts(["127.0.0.1"])]
PORTS = {"api": 3000, "custobar": 3101, "voyado": 3102, "orderingstack": 3103, "storyous": 3104, "control": 3100}


def walkthrough_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Local walk-through", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, int], Path]]:
    state = tmp_path_factory.mktemp("readme") / "stack.json"
    ports = {name: free_port() for name in PORTS} | {"aws": free_port()}
    process = start_local_stack(state, ports, "--logs", str(state.parent), timeout=90)
    assert wait_for((state.parent / "StoryousPullFunction.jsonl").exists, timeout=90)  # the demo ran
    yield ports, state
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)


def test_the_walkthrough_has_commands_to_run() -> None:
    assert walkthrough_blocks() and "curl" in walkthrough_blocks()[0]


@pytest.mark.parametrize("index", range(len(walkthrough_blocks())))
def test_every_walkthrough_block_runs_as_written(demo: tuple[dict[str, int], Path], index: int) -> None:
    ports, state = demo
    block = walkthrough_blocks()[index]
    for name, port in PORTS.items():
        block = block.replace(f"127.0.0.1:{port}", f"127.0.0.1:{ports[name]}")
    env = {**os.environ, "LOCAL_STACK_STATE": str(state)}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(  # noqa: S603 - the README's own commands
        ["bash", "-e", "-o", "pipefail", "-c", block],  # noqa: S607
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    # What the README's comments say each command shows.
    for expected in ('"count"', '"id": "M4E6D346F7257504B"', '"openapi"', '"status": "accepted"', '"customers"',
                     '"tokens_issued"', '"bills_queued": 1', '"tenant_id": "60b6512e66943300381c2d24"'):  # fmt: skip
        assert expected.replace(" ", "") in out.replace(" ", ""), expected
