"""The one timestamp format the hub stores and serves: UTC, microseconds, fixed width."""

from datetime import UTC, datetime

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width, so string order is time order in the index


def format_timestamp(moment: datetime) -> str:
    # isoformat, not strftime(TIMESTAMP_FORMAT): 5x faster, and it pads years before 1000 to four digits
    # (glibc's %Y does not, and strptime would then refuse what was stored).
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_timestamp(value: str) -> datetime:
    return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
