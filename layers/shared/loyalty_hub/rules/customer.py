"""One customer's state while a delivery is applied to it: ledger, contact, projected view."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from loyalty_hub.models.customer import VIEW_FIELDS
from loyalty_hub.rules import projection
from loyalty_hub.rules.timestamps import format_timestamp, parse_timestamp
from loyalty_hub.storyous.mapping import ContactFacts


@dataclass
class CustomerState:
    tenant_id: str
    customer_id: str
    ledger: dict[str, dict[str, Any]] = field(default_factory=dict)
    contact: ContactFacts | None = None
    contact_version: str | None = None
    enrichment: dict[str, dict[str, Any]] = field(default_factory=dict)  # vendor -> what it told us
    view: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    updated_at: str | None = None
    created_at: str | None = None
    erased: dict[str, str] | None = None  # when and why its personal data was erased (logic.erasure)
    dirty: bool = False

    @classmethod
    def from_item(cls, tenant_id: str, customer_id: str, item: Mapping[str, Any] | None) -> "CustomerState":
        if item is None:
            return cls(tenant_id, customer_id)
        contact = item.get("contact")
        return cls(
            tenant_id=tenant_id,
            customer_id=customer_id,
            ledger=orjson.loads(item.get("ledger") or "{}"),
            contact=ContactFacts(**contact) if contact else None,
            contact_version=item.get("contact_version"),
            enrichment={vendor: dict(data) for vendor, data in (item.get("enrichment") or {}).items()},
            view={name: item.get(name) for name in VIEW_FIELDS},
            version=int(item.get("version", 0)),
            updated_at=item.get("updated_at"),
            created_at=item.get("created_at"),
            erased=dict(item["erased"]) if item.get("erased") else None,
        )

    def upsert_bill(self, bill_id: str, entry: dict[str, Any]) -> None:
        current = self.ledger.get(bill_id)
        if current is None or current["v"] < entry["v"]:
            self.ledger[bill_id] = entry
            self.dirty = True

    def remove_bill(self, bill_id: str, version: str) -> None:
        """A newer version of the bill names another customer (or none)."""
        current = self.ledger.get(bill_id)
        if current is not None and current["v"] <= version:
            del self.ledger[bill_id]
            self.dirty = True

    def set_contact(self, contact: ContactFacts | None, version: str) -> None:
        """A newer Loyalty record; one that carries the person again ends an earlier erasure."""
        if self.contact_version is None or self.contact_version < version:
            self.contact, self.contact_version = contact, version
            if contact is not None:
                self.erased = None
            self.dirty = True

    def erase(self, reason: str, at: str) -> bool:
        """Drops the person: contact and every vendor's word. The bills stay (the merchant's sales, linked
        only by the customer id); the record stays hidden until Loyalty sends the person again (D47).
        False when it was erased already."""
        if self.erased is not None and self.contact is None and not self.enrichment:
            return False
        self.erased = {"reason": reason, "at": at}
        self.contact, self.enrichment = None, {}
        self.dirty = True
        return True

    def set_enrichment(self, vendor: str, data: Mapping[str, Any], observed: str) -> None:
        """A vendor's latest word on the customer; an older observation never replaces a newer one."""
        current = self.enrichment.get(vendor)
        if self.erased is not None:
            return  # an answer about an erased person (asked before the erasure) is not kept
        if current is None or current.get("observed", "") < observed:
            self.enrichment[vendor] = {**data, "observed": observed}
            self.dirty = True

    def category_ids(self) -> list[str]:
        return projection.category_ids(self.ledger)

    def reproject(self, category_names: Mapping[str, str], now: datetime) -> bool:
        """Recompute the view; `version` and `updated_at` move only when what others see changed."""
        view = projection.customer_view(self.ledger, self.contact, category_names, self.enrichment)
        if view == self.view and self.version > 0:
            return False
        self.view = view
        self.version += 1
        stamp = now.astimezone(UTC)
        if self.updated_at is not None:
            # Strictly increasing per customer, even if this host's clock is behind the last writer's.
            stamp = max(stamp, parse_timestamp(self.updated_at) + timedelta(microseconds=1))
        self.updated_at = format_timestamp(stamp)
        self.created_at = self.created_at or self.updated_at
        self.dirty = True
        return True

    def to_item(self) -> dict[str, Any]:
        if self.updated_at is None:
            raise RuntimeError("a customer is stored only after reproject() stamped it")
        return {  # the table's and the index's keys are added by dal.customers
            "tenant_id": self.tenant_id,
            "customer_id": self.customer_id,
            "version": self.version,
            "updated_at": self.updated_at,
            "created_at": self.created_at,
            # One JSON document, not a DynamoDB map: smaller, and nothing queries inside it.
            "ledger": orjson.dumps(self.ledger, option=orjson.OPT_SORT_KEYS).decode(),
            "contact": asdict(self.contact) if self.contact else None,
            "contact_version": self.contact_version,
            "enrichment": self.enrichment or None,
            "erased": self.erased,
            "category_ids": self.category_ids(),
            **self.view,
        }
