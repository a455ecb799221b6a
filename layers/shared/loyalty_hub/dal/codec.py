"""DynamoDB attribute-value conversion (numbers come back as Decimal, never float).

Writing goes through a direct encoder for the plain shapes our items have; boto3's TypeSerializer
(generic, type-probing) was a third of ingest CPU time for a 1,000-bill delivery.
"""

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def encode(value: Any) -> dict[str, Any]:
    # Exact types, most frequent first: 1.5x faster than a match on classes; subclasses take boto3's path.
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is dict:
        return {"M": {k: encode(v) for k, v in value.items()}}
    if kind is list or kind is tuple:
        return {"L": [encode(v) for v in value]}
    if kind is bool:
        return {"BOOL": value}
    if kind is int or kind is Decimal:
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    return dict(_serializer.serialize(value))  # sets, bytes, subclasses: rare, let boto3 decide


def to_item(value: dict[str, Any]) -> dict[str, Any]:
    """Top-level None attributes are left out, so absent and unknown read back the same way."""
    return {k: encode(v) for k, v in value.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}
