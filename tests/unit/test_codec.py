"""The direct attribute-value encoder agrees with boto3's TypeSerializer on every shape we store."""

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from loyalty_hub.dal.codec import encode, from_item, to_item

scalars = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(values)
def test_encode_matches_boto3(value: Any) -> None:
    assert encode(value) == TypeSerializer().serialize(value)


@given(st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=6))
def test_items_round_trip(item: dict[str, Any]) -> None:
    stored = {k: v for k, v in item.items() if v is not None}
    back = from_item(to_item(item))
    assert back == _normalize(stored)


def _normalize(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, list | tuple):
        return [_normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    return value


def test_sets_fall_back_to_boto3() -> None:
    assert encode({"a", "b"})["SS"] in (["a", "b"], ["b", "a"])
    with pytest.raises(TypeError):
        encode(1.5)  # floats never reach DynamoDB: money is Decimal
