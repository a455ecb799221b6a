"""Small test doubles shared by tests and benchmarks."""

import io
import json
from datetime import UTC, datetime
from typing import Any


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = datetime(2024, 7, 12, 8, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class LogCapture:
    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._stream.getvalue().splitlines() if line.startswith("{")]

    def text(self) -> str:
        return self._stream.getvalue()
