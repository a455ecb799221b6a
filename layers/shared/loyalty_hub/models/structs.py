"""The runtime models' base and their one way in and out: msgspec Structs (D49).

msgspec checks types and constraints when it decodes or converts, not when a model is built in code:
whatever comes from outside (a queue message, an envelope, an environment, a tenant item, an operator's
input) goes through `decode` or `convert`, which raise `Invalid` naming the field; out, `to_json` and
`to_plain`.
"""

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec

Invalid = msgspec.ValidationError  # a value that does not fit its model (a DecodeError too)
Malformed = msgspec.DecodeError  # not JSON at all, or Invalid
Meta = msgspec.Meta
replace = msgspec.structs.replace
field = msgspec.field
Raw = msgspec.Raw  # one value's JSON, left undecoded: read later, or stored as it came

_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]*)`")
_ENCODER = msgspec.json.Encoder(decimal_format="number")  # DynamoDB's Decimals as JSON numbers
# An aware datetime: a time without its offset is refused, never guessed.
AwareDatetime = Annotated[datetime, Meta(tz=True)]


class Model(msgspec.Struct, frozen=True, kw_only=True):  # frozen and kw_only are per class: every model repeats them
    """Frozen, built by keyword; unknown fields in what is decoded are ignored."""


def decode[M](model: type[M], data: bytes | str) -> M:
    return msgspec.json.decode(data, type=model)


def decoder[M](model: type[M]) -> Callable[[bytes | Raw], M]:
    """`decode` for one model, its type resolved once: half the cost when called for every entity."""
    return msgspec.json.Decoder(model).decode


def compact(document: bytes) -> bytes:
    """The JSON without insignificant whitespace, its tokens as they came; Malformed if it is not JSON."""
    return msgspec.json.format(document, indent=-1)


def raw_text(raw: Raw) -> str:
    return str(raw, "utf-8")  # a Raw is a buffer: this copies it, decoding nothing


def convert[M](model: type[M], value: Any) -> M:
    """`value` (plain dicts, lists, strings, numbers; Decimals as numbers) as `model`, checked."""
    if _has_decimal(value):
        return msgspec.json.decode(_ENCODER.encode(value), type=model)
    return msgspec.convert(value, model)


def to_json(value: Any) -> str:
    """A model (or plain values) as JSON text: queue bodies, stored pointers, the tenant item."""
    return _ENCODER.encode(value).decode()


def sorted_json(value: Any) -> bytes:
    """Plain values as JSON with sorted keys; integers of any size (orjson refuses those beyond 64 bits)."""
    return msgspec.json.encode(value, order="sorted")


def to_plain(value: Any) -> Any:
    """A model as plain dicts and lists, as its JSON would decode (Decimals stay Decimals)."""
    return msgspec.to_builtins(value, builtin_types=(Decimal,))


def field_names(model: type[msgspec.Struct]) -> tuple[str, ...]:
    return model.__struct_fields__


def reason(exc: msgspec.DecodeError) -> str:
    """'<field>: <what is wrong>' from msgspec's message ('... - at `$.data[3]`')."""
    text = str(exc)
    found = _AT.search(text)
    path, what = (found["path"], text[: found.start()]) if found else ("", text)
    if missing := _MISSING.match(what):
        return f"{path + '.' if path else ''}{missing['name']}: a required field is missing"
    return f"{path}: {what}" if path else what  # a check of the whole model names its field itself


def _has_decimal(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_decimal(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_decimal(v) for v in value)
    return isinstance(value, Decimal)
