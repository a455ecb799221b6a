"""`admin trace`: one customer across the hub, in one screen. Ids, times and reasons only: the person's
data is what DailyStory serves, and the trace shows that record as DailyStory would get it."""

from typing import TYPE_CHECKING, Any

from loyalty_hub.models import structs
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.models.vendors import VENDORS
from loyalty_hub.rules.ledger import item_slots
from loyalty_hub.rules.projection import counted_bills, not_counted

if TYPE_CHECKING:
    from loyalty_hub_dev.admin.customers import CustomerOps

Trace = dict[str, Any]


def trace(ops: "CustomerOps", tenant: Tenant, customer_id: str) -> Trace:
    tenant_id = tenant.tenant_id
    deliveries = [vars(a) for a in ops.appearances.of(tenant_id, customer_id)]
    keys = {d["archive_key"] for d in deliveries}
    quarantined = [
        r.summary()
        for r in ops.quarantine.list(tenant_id)
        if r.pointer.key in keys or (r.domain == "Loyalty" and r.entity_id == customer_id)
    ]
    item = ops.customers.get(tenant_id, customer_id)
    result: Trace = {
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "deliveries": deliveries,
        "quarantined": quarantined,
        "hub": _hub(ops, item, tenant),
        "vendors": {name: _vendor(ops, tenant, name, customer_id, item) for name in sorted(VENDORS)},
        "erasures": [
            {k: e.get(k) for k in ("request_id", "reason", "requested_by", "requested_at", "status", "done_at")}
            for e in ops.erasures.of_customer(tenant_id, customer_id)
        ],
    }
    result["suggestions"] = suggestions(result)
    return result


def _hub(ops: "CustomerOps", item: dict[str, Any] | None, tenant: Tenant) -> dict[str, Any]:
    if item is None:
        return {"state": "absent"}
    stored = ops.ledger.of_customer(tenant.tenant_id, str(item["customer_id"]))
    ledger = {b: slot.entry for b, slot in item_slots(item, stored).items() if slot.entry is not None}
    left_out = not_counted(ledger)
    hub: dict[str, Any] = {
        "state": "erased" if item.get("erased") else "served",
        "version": int(item.get("version", 0)),
        "updated_at": item.get("updated_at"),
        "bills_counted": sorted(counted_bills(ledger)),
        "bills_not_counted": [{"bill_id": b, "reason": r} for b, r in sorted(left_out.items())],
    }
    if item.get("erased"):
        hub["erased"] = dict(item["erased"])
    else:
        # Imported here: it brings the functions' Logger and Metrics, which read their environment once,
        # and the local stack imports the admin command before it sets the functions' environment.
        from loyalty_hub.logic.customer_api import to_record  # noqa: PLC0415

        hub["dailystory_record"] = structs.to_plain(to_record(item, tenant.zone))
    return hub


def _vendor(
    ops: "CustomerOps", tenant: Tenant, name: str, customer_id: str, item: dict[str, Any] | None
) -> dict[str, Any]:
    settings = getattr(tenant.vendors, name, None)
    state = "not configured" if settings is None else ("enabled" if settings.enabled else "disabled")
    found: dict[str, Any] = {"state": state}
    if settings is None:
        return found
    last = ops.sends.get(name, tenant.tenant_id, customer_id) if ops.sends else None
    found["last_send"] = last
    enrichment = ((item or {}).get("enrichment") or {}).get(name)
    found["enrichment_observed"] = enrichment.get("observed") if enrichment else None
    return found


def suggestions(found: Trace) -> list[str]:
    """What an operator can do next, from what the trace found."""
    tenant_id, customer_id = found["tenant_id"], found["customer_id"]
    hub = found["hub"]
    if hub["state"] == "erased":
        return [f"erased ({hub['erased'].get('reason')}) at {hub['erased'].get('at')}: nothing is sent for it"]
    said = [
        f"quarantined {len(found['quarantined'])} record(s): 'quarantine show {tenant_id} <qid>', fix, then retry"
    ] * bool(found["quarantined"])
    resend = f"'resend {tenant_id} --customer {customer_id} --vendor {{vendor}}'"
    for name, vendor in found["vendors"].items():
        last = vendor.get("last_send")
        if vendor["state"] == "disabled":
            said.append(f"{name} is disabled for the tenant: enable-{name} to send again")
        elif vendor["state"] != "enabled":
            continue
        elif last is None:
            said.append(f"no {name} send on record: " + resend.format(vendor=name))
        elif "credentials refused" in str(last.get("reason", "")):
            said.append(f"{name} refuses the tenant's credentials: set them again with enable-{name}")
        elif last["status"] == "dead_lettered":
            said.append(
                f"{name} dead-lettered it ({last.get('reason')}): fix the cause, then " + resend.format(vendor=name)
            )
        elif last["status"] == "sent" and hub.get("updated_at") and str(last["at"]) < str(hub["updated_at"]):
            said.append(f"{name} was sent an older version; if it does not arrive soon: " + resend.format(vendor=name))
    return said


def render(found: Trace) -> str:
    """The trace as lines for a terminal."""
    hub = found["hub"]
    lines = [f"customer {found['customer_id']} of tenant {found['tenant_id']}: {hub['state']}"]
    if "version" in hub:
        lines.append(f"  version {hub['version']}, last_updated {hub['updated_at']}")
        lines.append(f"  bills counted: {len(hub['bills_counted'])}; not counted: {len(hub['bills_not_counted'])}")
        lines += [f"    {b['bill_id']}: {b['reason']}" for b in hub["bills_not_counted"]]
    lines.append(f"deliveries ({len(found['deliveries'])}):")
    lines += [
        f"  {d['received_at']}  {d['source']:<13} {d['place_id']}  {d['domain']:<8} {d['archive_key']}"
        for d in found["deliveries"]
    ]
    lines += [f"quarantined: {q['qid']} {q['domain']} {q['code']}: {q['reason']}" for q in found["quarantined"]]
    for name, vendor in found["vendors"].items():
        last = vendor.get("last_send")
        sent = "no send on record"
        if last:
            sent = f"last {last['status']} at {last['at']} (attempt {last['attempt']})"
            sent += f": {last['reason']}" if last.get("reason") else ""
        enriched = f"; enrichment {vendor['enrichment_observed']}" if vendor.get("enrichment_observed") else ""
        lines.append(
            f"{name}: {vendor['state']}" + (f", {sent}{enriched}" if vendor["state"] != "not configured" else "")
        )
    lines += [
        f"erasure {e['request_id']}: {e['reason']} by {e['requested_by']}, {e['status']}" for e in found["erasures"]
    ]
    lines += [f"suggest: {s}" for s in found["suggestions"]]
    return "\n".join(lines)


def erasure_text(entry: dict[str, Any]) -> str:
    """What `forget` prints: the erasure log's record of what was done where, and what is left to a person."""
    report = entry.get("report") or {}
    lines = [
        f"customer {entry['customer_id']} of tenant {entry['tenant_id']} erased (request {entry['request_id']})",
        f"  customer record: {report.get('customer')}; Loyalty record: {report.get('loyalty_record')}",
        f"  quarantined records dropped: {report.get('quarantine_dropped')}",
        f"  archive: {report.get('archive_rewritten')} rewritten, {report.get('archive_unchanged')} unchanged, "
        f"{report.get('archive_gone')} gone; {report.get('versions_deleted')} old version(s) deleted",
    ]
    lines += [f"  {vendor}: {note}" for vendor, note in (report.get("vendors") or {}).items()]
    lines += [f"  note: {note}" for note in entry.get("notes") or []]
    return "\n".join(lines)
