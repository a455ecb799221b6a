"""What the local stack prints. The console gets one line per function invocation (and the API one per
request); each function's own JSON log lines and metric blobs go to .local/logs/<function>.jsonl, and
to the console too, each line prefixed with its function, with --verbose."""

import contextvars
import io
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

Handler = Callable[[dict[str, Any], Any], Any]
_FUNCTION: contextvars.ContextVar[str | None] = contextvars.ContextVar("local_console_function", default=None)


class PortInUse(Exception):
    """A port the local stack needs is taken; the message names it and the flag that moves it."""


def check_ports(ports: Iterable[tuple[str, int, str]], host: str) -> None:
    """(what, port, flag) each free on `host`, or PortInUse for the first that is not."""
    for what, port, flag in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise PortInUse(f"port {port} ({what}) is in use: stop what holds it, or pass {flag}") from exc


class FunctionOutput(io.TextIOBase):
    """Stands in for sys.stdout: what a function writes goes to its own log file; the rest to the console."""

    def __init__(self, console: TextIO, folder: Path, *, verbose: bool) -> None:
        self._console, self._folder, self._verbose = console, folder, verbose
        self._files: dict[str, TextIO] = {}
        self._partial: dict[str, str] = {}  # print() writes the text and its newline apart
        self._lock = threading.Lock()
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, text: str) -> int:
        function = _FUNCTION.get()
        if function is None:
            return self._console.write(text)
        with self._lock:
            out = self._files.get(function)
            if out is None:
                out = self._files[function] = (self._folder / f"{function}.jsonl").open("a", encoding="utf-8")
            out.write(text)
            out.flush()
            if self._verbose:
                *lines, rest = (self._partial.pop(function, "") + text).split("\n")
                self._partial[function] = rest
                self._console.write("".join(f"[{function}] {line}\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        self._console.flush()

    def writable(self) -> bool:
        return True


def install(folder: Path, *, verbose: bool) -> None:
    """From now on, functions' output is routed (before any function module builds its Logger)."""
    if not isinstance(sys.stdout, FunctionOutput):
        sys.stdout = FunctionOutput(sys.stdout, folder, verbose=verbose)


def _console() -> TextIO:
    out = sys.stdout
    return out._console if isinstance(out, FunctionOutput) else out


def summary(function: str, event: dict[str, Any], result: Any, error: BaseException | None, seconds: float) -> str:
    """One line: when, which function, what it was given and what came of it, how long it took."""
    records = event.get("Records") if isinstance(event, dict) else None
    if error is not None:
        outcome = f"failed: {type(error).__name__}"
    elif isinstance(result, dict) and "batchItemFailures" in result:
        failed = len(result["batchItemFailures"])
        outcome = "ok" if not failed else f"{failed} to retry"
    else:
        outcome = "ok"
    given = f"{len(records)} record(s)" if isinstance(records, list) else "scheduled"
    return f"{time.strftime('%H:%M:%S')}  {function:<22} {given:<12} {outcome:<16} {seconds * 1000:.0f} ms"


def _is_request(event: Any) -> bool:
    return isinstance(event, dict) and "httpMethod" in event


def running_function() -> str | None:
    """The logical id of the function whose handler is running in this thread, if any."""
    return _FUNCTION.get()


def invoked(function: str, handler: Handler, *, report: bool) -> Handler:
    """The handler, known as `function` while it runs (its output is routed by that, and the call trace
    records by it); with `report`, one summary line per run on the console."""

    def run(event: dict[str, Any], context: Any) -> Any:
        token = _FUNCTION.set(function)
        started, result, error = time.perf_counter(), None, None
        try:
            result = handler(event, context)
            return result
        except BaseException as exc:
            error = exc
            raise
        finally:
            _FUNCTION.reset(token)
            if report and not _is_request(event):  # the API prints its own line per request
                line = summary(function, event, result, error, time.perf_counter() - started)
                print(line, file=_console(), flush=True)

    return run
