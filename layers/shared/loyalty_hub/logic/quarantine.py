"""What an operator does with quarantined records: list, show, retry (after fixing the cause), drop.

A retry queues the archived delivery again, naming the records it is to settle: ingest stores what it
can by the usual rules (a newer stored version wins), deletes the records that stored or were
superseded, and quarantines again, with one more attempt, those that still cannot be stored.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from loyalty_hub.dal import archive
from loyalty_hub.dal.quarantine import QuarantineStore
from loyalty_hub.errors import NotFound
from loyalty_hub.models import structs
from loyalty_hub.models.datasync import DeliveryPointer
from loyalty_hub.models.quarantine import DELIVERY, QuarantineRecord, display_id, quarantine_id

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@dataclass
class QuarantineOps:
    store: QuarantineStore
    sqs: "SQSClient"
    ingest_queue_url: str

    def records(self, tenant_id: str, domain: str | None = None) -> list[QuarantineRecord]:
        return [r for r in self.store.list(tenant_id) if domain is None or r.domain == domain]

    def show(self, tenant_id: str, qid: str) -> QuarantineRecord:
        record = self.store.get(tenant_id, qid)
        if record is None:
            raise NotFound(f"no quarantined record {qid} for tenant {tenant_id}")
        return record

    def select(self, tenant_id: str, qids: Iterable[str] | None, domain: str | None = None) -> list[QuarantineRecord]:
        """The named records (all of them, or of one domain, when none are named); NotFound for an unknown id."""
        found = {r.qid: r for r in self.records(tenant_id, domain)}
        if qids is None:
            return list(found.values())
        wanted = list(dict.fromkeys(qids))
        unknown = [q for q in wanted if q not in found]
        if unknown:
            raise NotFound(f"no quarantined record {', '.join(unknown)} for tenant {tenant_id}")
        return [found[q] for q in wanted]

    def retry(self, records: Iterable[QuarantineRecord]) -> int:
        """Queues each record's delivery once (records of one delivery go together); returns deliveries."""
        by_delivery: dict[str, list[QuarantineRecord]] = {}
        for record in records:
            by_delivery.setdefault(record.pointer.key, []).append(record)
        stamp = datetime.now(UTC).isoformat()
        for group in by_delivery.values():
            pointer = structs.replace(group[0].pointer, retry={r.qid: r.attempts for r in group})
            # A distinct deduplication id: the FIFO queue would drop a repeat of the original within 5 minutes.
            archive.enqueue(self.sqs, self.ingest_queue_url, pointer, attempt=f"retry {stamp}")
        return len(by_delivery)

    def drop(self, records: Iterable[QuarantineRecord]) -> int:
        """Forgets the records; their deliveries stay in the raw archive, for a replay."""
        by_tenant: dict[str, list[str]] = {}
        for record in records:
            by_tenant.setdefault(record.tenant_id, []).append(record.qid)
        for tenant_id, qids in by_tenant.items():
            self.store.delete(tenant_id, qids)
        return sum(len(q) for q in by_tenant.values())


@dataclass
class DeliveryQuarantine:
    """The records of one delivery that could not be stored, written to QuarantineTable in one batch."""

    pointer: DeliveryPointer
    now: str
    records: dict[str, QuarantineRecord] = field(default_factory=dict)

    versions: dict[str, str] = field(default_factory=dict)  # entity id -> its raw `_lastModifiedAt`

    def entity(self, entity_id: str, code: str, reason: str, raw_version: str | None = None) -> None:
        self._add(entity_id, code, reason, self.versions.get(entity_id, "") if raw_version is None else raw_version)

    def delivery(self, code: str, reason: str) -> None:
        self._add(DELIVERY, code, reason, self.pointer.sha256)

    def _add(self, entity_id: str, code: str, reason: str, raw_version: str | None) -> None:
        qid = quarantine_id(self.pointer.domain, entity_id, raw_version if raw_version is not None else "")
        self.records[qid] = QuarantineRecord(
            tenant_id=self.pointer.tenant_id,
            qid=qid,
            domain=self.pointer.domain,
            entity_id=display_id(entity_id),
            code=code,
            reason=reason,
            pointer=self.pointer,
            quarantined_at=self.now,
            attempts=self.pointer.retry.get(qid, 0) + 1,
        )

    def flush(self, store: QuarantineStore) -> int:
        """Writes the new records and settles the retried ones that stored this time; returns those."""
        if self.records:
            store.put_many(list(self.records.values()))
        settled = [qid for qid in self.pointer.retry if qid not in self.records]
        if settled:
            store.delete(self.pointer.tenant_id, settled)
        return len(settled)
