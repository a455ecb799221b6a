"""An entity id's shortcut (printable ASCII passes unexamined) answers as the full check does, for any value."""

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_hub.limits import MAX_ID_BYTES
from loyalty_hub.models.ids import entity_id_problem

ids = (
    st.text(max_size=20)
    | st.text(alphabet=" \t\x00\x1f\x7f\x85é€aZ9_-", max_size=20)
    | st.integers()
    | st.sampled_from(["", " ", "a" * MAX_ID_BYTES, "a" * (MAX_ID_BYTES + 1), "é" * 300, True, None, 1.5])
)


def full_check(value: Any) -> bool:
    """True when the id can be stored: a string or integer, not blank, at most MAX_ID_BYTES, no control character."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    text = str(value)
    return bool(text.strip()) and len(text.encode()) <= MAX_ID_BYTES and not re.search(r"[\x00-\x1f\x7f]", text)


@given(ids)
@settings(max_examples=500)
def test_an_id_passed_unexamined_is_one_the_full_check_takes(value: Any) -> None:
    assert (entity_id_problem(value) is None) == full_check(value)
