"""The local stack's console: one line per invocation, each function's output in its own log file, and
a port already taken refused in one line."""

import io
from pathlib import Path

import pytest

from loyalty_hub_dev.local import console


def test_a_function_writes_to_its_own_log_and_the_console_gets_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    monkeypatch.setattr("sys.stdout", console.FunctionOutput(screen, tmp_path, verbose=False))

    def handler(event: dict[str, object], context: object) -> dict[str, list[object]]:
        print('{"level":"INFO","message":"done"}')
        return {"batchItemFailures": [{"itemIdentifier": "m2"}]}

    result = console.invoked("IngestFunction", handler, report=True)({"Records": [{}, {}]}, None)
    print("not from a function")

    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert (tmp_path / "IngestFunction.jsonl").read_text() == '{"level":"INFO","message":"done"}\n'
    lines = screen.getvalue().splitlines()
    assert len(lines) == 2 and "IngestFunction" in lines[0] and "2 record(s)" in lines[0] and "1 to retry" in lines[0]
    assert lines[1] == "not from a function"


def test_verbose_also_prints_each_line_named_by_its_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr("sys.stdout", console.FunctionOutput(screen, tmp_path, verbose=True))

    def handler(event: dict[str, object], context: object) -> None:
        print("a line\nanother")

    console.invoked("ReconcileFunction", handler, report=True)({"job": "reconcile"}, None)
    assert screen.getvalue().startswith("[ReconcileFunction] a line\n[ReconcileFunction] another\n")


def test_a_failed_run_says_so_and_an_api_request_prints_no_second_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    monkeypatch.setattr("sys.stdout", console.FunctionOutput(screen, tmp_path, verbose=False))

    def failing(event: dict[str, object], context: object) -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        console.invoked("StoryousPullFunction", failing, report=True)({"job": "storyous-pull"}, None)
    console.invoked("WebhookFunction", lambda e, c: {"statusCode": 200}, report=True)({"httpMethod": "POST"}, None)
    [line] = screen.getvalue().splitlines()
    assert "StoryousPullFunction" in line and "failed: KeyError" in line


class _Taken:
    """A socket whose port another process holds (no real socket in unit tests)."""

    def __enter__(self) -> "_Taken":
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def setsockopt(self, *_: object) -> None:
        return None

    def bind(self, address: tuple[str, int]) -> None:
        raise OSError(98, "Address already in use")


def test_a_port_in_use_is_named_with_the_flag_that_moves_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console.socket, "socket", _Taken)
    with pytest.raises(console.PortInUse, match=r"port 3000 \(the API\) is in use: .* --api-port"):
        console.check_ports([("the API", 3000, "--api-port")], "127.0.0.1")
