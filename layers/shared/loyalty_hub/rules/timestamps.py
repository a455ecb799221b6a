"""The one timestamp format the hub stores and serves: UTC, microseconds, fixed width."""

from datetime import UTC, datetime

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width, so string order is time order in the index


def format_timestamp(moment: datetime) -> str:
    # isoformat, not strftime(TIMESTAMP_FORMAT): 5x faster, and it pads years before 1000 to four digits
    # (glibc's %Y does not, and strptime would then refuse what was stored). Without `timespec`, padded
    # here: the keyword alone costs a third of the call (ingest formats two a bill).
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text + ".000000Z" if len(text) == _WITHOUT_FRACTION else text + "Z"


_WITHOUT_FRACTION = len("2024-01-01T00:00:00")


def parse_timestamp(value: str) -> datetime:
    """A stored timestamp, aware. fromisoformat reads the format (its "Z" included) 40x faster than strptime:
    ingest reads one for every customer it changes, the customer API one for every customer it serves."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
