"""The item check's shortcuts (a string-only item's 4-bytes-a-character bound, the item's JSON as an upper
bound of its size, numbers read from that JSON, plain numbers passed without parsing) answer exactly as
the full count and walk do, for any item."""

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_hub import limits
from loyalty_hub.dal.entities import DeliveryItems
from loyalty_hub.dal.ledger import _item as ledger_item

texts = st.text(max_size=40) | st.text(alphabet='€"\\\n\x00ab', max_size=400)
numbers = st.decimals(allow_nan=True, allow_infinity=True, places=None) | st.sampled_from(
    [Decimal("1E+126"), Decimal("1" * 39), Decimal("1E-131"), Decimal(0)]
)
scalars = st.one_of(
    texts.map(lambda s: {"S": s}),
    numbers.map(lambda n: {"N": str(n)}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.binary(max_size=20).map(lambda b: {"B": b}),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda v: {"L": v})
        | st.dictionaries(st.sampled_from(["N", "S", "a", "NS", "x y"]), inner, max_size=4).map(lambda m: {"M": m})
    ),
    max_leaves=12,
)
items = st.dictionaries(st.text(min_size=1, max_size=10), values, min_size=1, max_size=6)


def exhaustive(item: dict[str, Any]) -> tuple[str, str] | None:
    """The check without its shortcut: the exact size, then every number."""
    size = limits.item_size(item)
    if size > limits.MAX_ITEM_BYTES:
        return "too_large", f"item of {size} bytes exceeds DynamoDB's {limits.MAX_ITEM_BYTES} bytes"
    for text in (n for value in item.values() for n in limits._numbers(value)):
        try:
            problem = limits.number_problem(Decimal(text))
        except ArithmeticError:
            problem = "not a number"
        if problem:
            return "number_out_of_range", f"a number: {problem}"
    return None


@given(items, st.none() | st.integers(-3, 3))
@settings(max_examples=300)
def test_the_shortcut_answers_as_the_full_check(item: dict[str, Any], over: int | None) -> None:
    if over is not None:  # an exact size of the limit + `over` bytes, where the shortcut must hand over
        pad = limits.MAX_ITEM_BYTES + over - limits.item_size(item) - len("~pad")
        item = {**item, "~pad": {"S": "x" * max(pad, 0)}}
    assert limits.item_problem(item) == exhaustive(item)


def digits_and_range(value: Decimal) -> str | None:
    """number_problem without its plain-text shortcut: significant digits counted, then the range."""
    if not value.is_finite():
        return "not a finite number"
    if value.is_zero():
        return None
    digits = len("".join(map(str, value.as_tuple().digits)).strip("0"))
    if digits > limits.MAX_NUMBER_DIGITS:
        return f"{digits} significant digits (DynamoDB keeps {limits.MAX_NUMBER_DIGITS})"
    if not limits.MIN_POSITIVE_NUMBER <= abs(value) <= limits.MAX_NUMBER:
        return "outside DynamoDB's number range (1E-130 to 9.99E+125)"
    return None


plain_texts = st.from_regex(r"\A-?[0-9]{1,40}(\.[0-9]{0,40})?\Z")


@given(numbers | plain_texts.map(Decimal))
@settings(max_examples=500)
def test_a_number_passed_without_counting_is_one_dynamodb_takes(value: Decimal) -> None:
    assert limits.number_problem(value) == digits_and_range(value)


# Builders that count an item's characters as they build it (entities, ledger slots) answer as item_problem
# walking the built item does, near the size and key limits too.
sizes = st.integers(0, 140_000)
long_texts = st.builds(
    lambda a, b, c: "€" * a + "x" * b + "\x00" * c, sizes, st.integers(0, 420_000), st.integers(0, 3)
)
key_texts = st.text(min_size=0, max_size=8) | st.builds(
    lambda n, c: c * n, st.integers(0, 1100), st.sampled_from("xé€")
)


@given(key_texts, key_texts, long_texts, st.none() | key_texts)
@settings(max_examples=150)
def test_an_entity_item_checked_as_built_answers_as_item_problem(
    domain: str, entity_id: str, text: str, customer_id: str | None
) -> None:
    items = DeliveryItems("t", domain, place_id="p", delivery_key="k", received_at="2024-07-12T08:00:00.000000Z")
    item, problem = items.checked(entity_id, "v", text, customer_id)
    assert problem == limits.item_problem(item, partition_keys=("pk",), sort_keys=("sk",))


@given(key_texts, key_texts, long_texts, st.lists(st.text(max_size=5), max_size=2))
@settings(max_examples=150)
def test_a_ledger_slot_item_checked_as_built_answers_as_item_problem(
    customer_id: str, bill_id: str, category: str, reversed_by: list[str]
) -> None:
    entry = {"v": "2024-07-12T08:00:00.000000Z", "s": "p", "k": [category], "a": "1"}
    item, problem = ledger_item(f"t#~ledger#{customer_id}", bill_id, {"e": entry, "rb": reversed_by})
    assert problem == limits.item_problem(item, partition_keys=("pk",), sort_keys=("sk",))
