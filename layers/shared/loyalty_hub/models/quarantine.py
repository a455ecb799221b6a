"""A record ingest could not store: what it was, where its delivery lies, and why it was refused.

Only ids, codes and DynamoDB's or our own wording go into a reason, never an entity's values, so a
quarantine listing holds no personal data; the entity itself stays in the raw archive.
"""

import hashlib
from dataclasses import dataclass
from typing import Any, Final

from loyalty_hub.models import structs
from loyalty_hub.models.datasync import DeliveryPointer

DELIVERY: Final = ""  # the entity id of a record that stands for its whole delivery
DISPLAY_ID_CHARS: Final = 64

# Reason codes: every one is permanent, so nothing with these codes is retried until a person acts.
CODES: Final = frozenset(
    {"invalid_id", "unparseable", "number_out_of_range", "too_large", "key_too_long", "validation", "delivery"}
)


def quarantine_id(domain: str, entity_id: str, raw_version: str) -> str:
    """Stable per (domain, entity, version): quarantining the same version twice writes one record."""
    digest = hashlib.sha256(f"{domain}\x00{entity_id}\x00{raw_version}".encode()).hexdigest()
    return f"q{digest[:19]}"


def display_id(entity_id: str) -> str:
    """The id as a listing shows it: long (poison) ids are cut, with their length."""
    if len(entity_id) <= DISPLAY_ID_CHARS:
        return entity_id
    return f"{entity_id[:DISPLAY_ID_CHARS]}…({len(entity_id.encode())} bytes)"


@dataclass(frozen=True)
class QuarantineRecord:
    tenant_id: str
    qid: str
    domain: str
    entity_id: str  # as display_id shows it; DELIVERY for a whole delivery
    code: str
    reason: str
    pointer: DeliveryPointer  # the archived delivery that carried the entity, as ingest read it
    quarantined_at: str
    attempts: int = 1

    @property
    def delivery_id(self) -> str:
        return self.pointer.delivery_id

    def to_item(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "qid": self.qid,
            "domain": self.domain,
            "entity_id": self.entity_id,
            "code": self.code,
            "reason": self.reason,
            "pointer": structs.to_json(structs.replace(self.pointer, retry={})),
            "quarantined_at": self.quarantined_at,
            "attempts": self.attempts,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "QuarantineRecord":
        return cls(
            tenant_id=str(item["tenant_id"]),
            qid=str(item["qid"]),
            domain=str(item["domain"]),
            entity_id=str(item.get("entity_id", "")),
            code=str(item["code"]),
            reason=str(item["reason"]),
            pointer=structs.decode(DeliveryPointer, str(item["pointer"])),
            quarantined_at=str(item["quarantined_at"]),
            attempts=int(item.get("attempts", 1)),
        )

    def summary(self) -> dict[str, Any]:
        """What `quarantine list|show` prints: no personal data, only ids and where the delivery lies."""
        return {
            "qid": self.qid,
            "domain": self.domain,
            "entity_id": self.entity_id or "(whole delivery)",
            "code": self.code,
            "reason": self.reason,
            "delivery_id": self.delivery_id,
            "archive_key": self.pointer.key,
            "place_id": self.pointer.place_id,
            "received_at": self.pointer.received_at.isoformat(),
            "quarantined_at": self.quarantined_at,
            "attempts": self.attempts,
        }
