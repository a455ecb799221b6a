"""Stored timestamps: fixed width, so string order is time order in the index, and read back exactly."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty_hub.rules.timestamps import format_timestamp, parse_timestamp, timestamp_of_isoformat

zones = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-11, minutes=-30))])
# hypothesis wants naive bounds with `timezones`; they are read in each zone drawn
moments = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=zones)  # noqa: DTZ001


@given(moments, moments)
def test_timestamps_are_fixed_width_ordered_and_read_back(a: datetime, b: datetime) -> None:
    first, second = format_timestamp(a), format_timestamp(b)
    assert len(first) == len(second) == len("2024-07-01T10:00:00.000000Z")
    assert (first < second) == (a < b)
    assert parse_timestamp(first) == a


# UTC and a zero offset take timestamp_of_isoformat's shortcut; an offset of seconds only ends in "00:30".
isoformat_zones = st.sampled_from(
    [UTC, timezone(timedelta(0)), timezone(timedelta(hours=2)), timezone(timedelta(seconds=30)),
     timezone(timedelta(minutes=-1))]
)  # fmt: skip


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=isoformat_zones))  # noqa: DTZ001
def test_the_timestamp_of_an_isoformat_is_its_moment_stored(moment: datetime) -> None:
    assert timestamp_of_isoformat(moment.isoformat()) == format_timestamp(moment)


@pytest.mark.parametrize(
    "value",
    [
        "2024-07-01T10:00:00+00:00",
        "2024-07-01T10:00:00.000000",
        "2024-07-01",
        "2024-07-01T10:00:00.5Z",
        "",
        "2024-13-01T10:00:00.000000Z",
    ],
)
def test_only_the_stored_form_is_read(value: str) -> None:
    with pytest.raises(ValueError, match=r"not a stored timestamp|month must be"):
        parse_timestamp(value)
