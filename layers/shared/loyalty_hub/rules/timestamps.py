"""The one timestamp format the hub stores and serves: UTC, microseconds, fixed width, as in
`2024-07-01T10:00:00.000000Z`, so that string order is time order in the index."""

from datetime import UTC, datetime
from typing import Final

_WIDTH: Final = len("2024-07-01T10:00:00.000000Z")
_WITHOUT_FRACTION: Final = len("2024-07-01T10:00:00")


def format_timestamp(moment: datetime) -> str:
    # isoformat, not strftime: 5x faster, and it pads years before 1000 to four digits (glibc's %Y does
    # not). Without `timespec`, padded here: the keyword alone costs a third of the call (ingest formats
    # two a bill).
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text + ".000000Z" if len(text) == _WITHOUT_FRACTION else text + "Z"


def parse_timestamp(value: str) -> datetime:
    """A stored timestamp, aware; ValueError for any other form. fromisoformat, not strptime: ~45x faster,
    and ingest reads one for every customer it changes, the customer API one for every record it serves."""
    if len(value) != _WIDTH or not value.endswith("Z"):
        raise ValueError(f"not a stored timestamp: {value[:40]!r}")
    return datetime.fromisoformat(value)
