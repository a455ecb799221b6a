"""DynamoDB's documented limits, in one place, and a check of an item against them before it is written.

moto accepts what DynamoDB refuses (oversized keys and items, numbers beyond 38 digits), so these
checks, not moto, are what keeps a refused write from reaching AWS; `batch.classify` reads the codes
AWS answers with when a check still misses something.
Source: the DynamoDB developer guide, "Quotas" (item size, key lengths, batch sizes) and "Data types" (numbers).
"""

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import orjson

MAX_ITEM_BYTES: Final = 400 * 1024  # names and values, UTF-8
MAX_PARTITION_KEY_BYTES: Final = 2048
MAX_SORT_KEY_BYTES: Final = 1024  # also for an index's sort key
MAX_NUMBER_DIGITS: Final = 38
MAX_NUMBER: Final = Decimal("9.9999999999999999999999999999999999999E+125")
MIN_POSITIVE_NUMBER: Final = Decimal("1E-130")
MAX_BATCH_GET_KEYS: Final = 100  # BatchGetItem
MAX_BATCH_WRITE_ITEMS: Final = 25  # BatchWriteItem

# Our own bound on Storyous ids (bill, customer, product...): real ones are about 20 characters, and
# 512 bytes fits every key an id becomes part of (entity sort key, customer keys with their index
# timestamp prefix, vendor external ids) with room to spare.
MAX_ID_BYTES: Final = 512


def number_problem(value: Decimal) -> str | None:
    """Why DynamoDB would refuse this number, or None."""
    if _plain(str(value)):  # nearly every amount: no digits to count
        return None
    if not value.is_finite():
        return "not a finite number"
    if value.is_zero():
        return None
    # Not normalize(): it rounds to the context's 28 digits and would hide a 39-digit number.
    significant = "".join(map(str, value.as_tuple().digits)).strip("0")
    digits = len(significant)
    if digits > MAX_NUMBER_DIGITS:
        return f"{digits} significant digits (DynamoDB keeps {MAX_NUMBER_DIGITS})"
    if not MIN_POSITIVE_NUMBER <= abs(value) <= MAX_NUMBER:
        return "outside DynamoDB's number range (1E-130 to 9.99E+125)"
    return None


def _size(value: Mapping[str, Any]) -> int:
    """Bytes one attribute value counts towards the item size, as the developer guide computes it."""
    if (text := value.get("S")) is not None:  # most values, every key: no unpacking
        return len(text.encode())
    (kind, inner), *_ = value.items()
    match kind:
        case "S":
            return len(inner.encode())
        case "N":
            return (len(inner.lstrip("-").replace(".", "").lstrip("0")) + 1) // 2 + 1
        case "B":
            return len(inner)
        case "BOOL" | "NULL":
            return 1
        case "L":
            return 3 + sum(1 + _size(v) for v in inner)
        case "M":
            return 3 + sum(1 + len(k.encode()) + _size(v) for k, v in inner.items())
        case "SS" | "NS" | "BS":
            return sum(len(str(v).encode()) for v in inner)
    return 0


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(len(name.encode()) + _size(value) for name, value in item.items())


def _numbers(value: Mapping[str, Any]) -> list[str]:
    (kind, inner), *_ = value.items()
    if kind == "N":
        return [inner]
    if kind == "NS":
        return list(inner)
    if kind == "L":
        return [n for v in inner for n in _numbers(v)]
    if kind == "M":
        return [n for v in inner.values() for n in _numbers(v)]
    return []


def item_problem(
    item: Mapping[str, Mapping[str, Any]], *, partition_keys: tuple[str, ...] = (), sort_keys: tuple[str, ...] = ()
) -> tuple[str, str] | None:
    """(reason code, reason) DynamoDB would refuse the item for, or None. `partition_keys` and `sort_keys`
    name the attributes that are keys of the table or of one of its indexes."""
    if problem := _key_problem(item, partition_keys, sort_keys):
        return problem
    # String attributes (every key, most values) are bounded by their length at 4 UTF-8 bytes a character,
    # the rest by their JSON, which is never smaller than DynamoDB's count of them (names, values,
    # separators): when the bound fits, no exact count is needed. ~20x cheaper than walking every attribute.
    characters = 0
    rest: dict[str, Mapping[str, Any]] = {}
    for name, value in item.items():
        if len(value) == 1 and (text := value.get("S")) is not None:
            characters += len(name) + len(text)
        else:
            rest[name] = value
    if not rest and 4 * characters <= MAX_ITEM_BYTES:
        return None  # strings only (entities, appearances): no number to look for either
    try:
        encoded: bytes | None = orjson.dumps(rest) if rest else b""
    except TypeError:  # binary values
        encoded = None
    if encoded is None or 4 * characters + len(encoded) > MAX_ITEM_BYTES:
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            return "too_large", f"item of {size} bytes exceeds DynamoDB's {MAX_ITEM_BYTES} bytes"
    if encoded is None or b'"NS":' in encoded:
        return _numbers_problem(n for value in rest.values() for n in _numbers(value))
    return _numbers_problem(_number_texts(encoded))


def strings_item_problem(
    item: Mapping[str, Mapping[str, str]],
    characters: int,
    *,
    partition_keys: tuple[str, ...] = (),
    sort_keys: tuple[str, ...] = (),
) -> tuple[str, str] | None:
    """`item_problem` of an item of string attributes only, given the characters of its names and values:
    its builder counts them as it builds it, which costs less than walking the item (ingest builds two a
    bill). Exactly item_problem's answer when the count is right (tests/property/test_limits.py)."""
    if problem := _key_problem(item, partition_keys, sort_keys):
        return problem
    if 4 * characters <= MAX_ITEM_BYTES:
        return None
    return item_problem(item)  # the exact count


def _key_problem(
    item: Mapping[str, Mapping[str, Any]], partition_keys: tuple[str, ...], sort_keys: tuple[str, ...]
) -> tuple[str, str] | None:
    for names, limit in ((partition_keys, MAX_PARTITION_KEY_BYTES), (sort_keys, MAX_SORT_KEY_BYTES)):
        for name in names:
            value = item.get(name)
            if value is None or 0 < 4 * len(value.get("S") or "") <= limit:
                continue  # absent, or a string that fits at 4 UTF-8 bytes a character: nothing to count
            size = _size(value)
            if size > limit or size == 0:
                return "key_too_long", f"key attribute {name} is {size} bytes (DynamoDB allows 1 to {limit})"
    return None


def _number_texts(encoded: bytes) -> Iterator[str]:
    """The N values in an item's JSON. Quotes inside JSON strings are escaped, so '"N":"' is only ever an
    N type tag; bytes.find, not a regular expression: 5x faster over a customer's item."""
    start = encoded.find(_N_TAG)
    while start != -1:
        end = encoded.index(b'"', start + len(_N_TAG))
        yield encoded[start + len(_N_TAG) : end].decode()
        start = encoded.find(_N_TAG, end)


_N_TAG: Final = b'"N":"'


def _plain(text: str) -> bool:
    """A number written without exponent in at most 38 characters: always within DynamoDB's digits and
    range (its smallest non-zero value is 1E-37), so `number_problem` need not parse it."""
    return len(text) <= MAX_NUMBER_DIGITS and text.lstrip("-").replace(".", "", 1).isdigit() and text.isascii()


def _numbers_problem(texts: Iterable[str]) -> tuple[str, str] | None:
    for text in texts:
        if _plain(text):
            continue
        try:
            problem = number_problem(Decimal(text))
        except InvalidOperation:
            problem = "not a number"
        if problem:
            return "number_out_of_range", f"a number: {problem}"
    return None
