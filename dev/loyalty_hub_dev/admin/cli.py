"""The admin command line: `loyalty-hub --help` (installed by `make setup`; `make admin ARGS=...` too).

Every command prints human lines, or with `--json` one JSON document on stdout; progress of long work
goes to stderr. Secrets are read from an environment variable or stdin, never from a flag (flags stay
in shell history and show in `ps`).
"""

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub.errors import HubError, NotFound
from loyalty_hub.models import structs
from loyalty_hub.rules.timestamps import format_timestamp
from loyalty_hub_dev.admin.core import Admin
from loyalty_hub_dev.admin.parser import parser
from loyalty_hub_dev.admin.target import AdminError, Target
from loyalty_hub_dev.admin.trace import erasure_text, render


@dataclass(frozen=True)
class Output:
    data: Any  # the --json document
    text: str  # the human lines
    note: str = ""  # a summary for stderr, so that stdout stays one line per record


def _secret(env: str, what: str) -> str:
    """From `env`, else one line of stdin (hidden when typed at a terminal)."""
    value = os.environ.get(env)
    if value:
        return value
    if sys.stdin.isatty():
        return getpass.getpass(f"{what} (or set {env}): ")
    return sys.stdin.readline().rstrip("\n")


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _tenant_output(tenant: Any, text: str) -> Output:
    return Output(structs.to_plain(tenant), text)


def _create(admin: Admin, a: argparse.Namespace) -> Output:
    tenant = admin.create_tenant(a.tenant_id, a.name, a.time_zone, a.country, dict(a.place))
    return _tenant_output(tenant, f"tenant {tenant.tenant_id} created with {len(tenant.places)} place(s)")


def _add_place(admin: Admin, a: argparse.Namespace) -> Output:
    return _tenant_output(admin.add_place(a.tenant_id, a.place_id, a.name), f"place {a.place_id} added")


def _list(admin: Admin, a: argparse.Namespace) -> Output:
    listed = admin.list()
    rows: list[dict[str, Any]] = [
        {"tenant_id": t.tenant_id, "name": t.name, "places": len(t.places)} for t in listed.tenants
    ]
    lines = [f"{r['tenant_id']}\t{r['name']}\t{r['places']} place(s)" for r in rows]
    for tenant_id, why in listed.unreadable.items():  # scheduled jobs skip these: the operator must see them
        rows.append({"tenant_id": tenant_id, "unreadable": why})
        lines.append(f"{tenant_id}\tUNREADABLE: {why} (fix the item in the tenants table; 'show' names the field)")
    return Output(rows, "\n".join(lines))


def _show(admin: Admin, a: argparse.Namespace) -> Output:
    shown = admin.show(a.tenant_id)
    return Output(shown, json.dumps(shown, indent=2, ensure_ascii=False))


def _webhook_secret(admin: Admin, a: argparse.Namespace) -> Output:
    given = _secret("STORYOUS_WEBHOOK_SECRET", "webhook secret") if a.given else None
    secret = admin.set_webhook_secret(a.tenant_id, given)
    return Output({"tenant_id": a.tenant_id, "storyous_webhook_secret": secret}, secret)


def _storyous_client(admin: Admin, a: argparse.Namespace) -> Output:
    admin.set_storyous_client(a.tenant_id, a.client_id, _secret("STORYOUS_CLIENT_SECRET", "Storyous client secret"))
    return Output({"tenant_id": a.tenant_id, "storyous_client_id": a.client_id}, "storyous client stored")


def _issue_key(admin: Admin, a: argparse.Namespace) -> Output:
    key = admin.issue_dailystory_key(a.tenant_id, rotate=a.rotate)
    return Output({"tenant_id": a.tenant_id, "dailystory_key": key, "earlier_revoked": a.rotate}, key)


def _vendors(tenant: Any, text: str) -> Output:
    return Output(structs.to_plain(tenant.vendors), text)


def _custobar(admin: Admin, a: argparse.Namespace) -> Output:
    if a.auth == "Basic":
        credentials = {
            "custobar_username": a.username or "",
            "custobar_password": _secret("CUSTOBAR_PASSWORD", "password"),
        }
    else:
        credentials = {"custobar_token": _secret("CUSTOBAR_TOKEN", "Custobar API token")}
    tenant = admin.enable_custobar(
        a.tenant_id, base_url=a.base_url, auth=a.auth, field_prefix=a.field_prefix, credentials=credentials
    )
    return _vendors(tenant, f"custobar enabled for {a.tenant_id}")


def _voyado(admin: Admin, a: argparse.Namespace) -> Output:
    tenant = admin.enable_voyado(
        a.tenant_id,
        base_url=a.base_url,
        api_key=_secret("VOYADO_API_KEY", "Voyado bridge API key"),
        bucket_size=a.bucket_size,
        refill_per_second=a.refill_per_second,
    )
    return _vendors(tenant, f"voyado enabled for {a.tenant_id}")


def _orderingstack(admin: Admin, a: argparse.Namespace) -> Output:
    credentials = {
        "orderingstack_client_id": a.client_id,
        "orderingstack_client_secret": _secret("ORDERINGSTACK_CLIENT_SECRET", "OrderingStack client secret"),
    }
    if a.grant == "password":
        credentials["orderingstack_username"] = a.username or ""
        credentials["orderingstack_password"] = _secret("ORDERINGSTACK_PASSWORD", "OrderingStack password")
    tenant = admin.enable_orderingstack(
        a.tenant_id, base_url=a.base_url, os_tenant=a.os_tenant, grant=a.grant, credentials=credentials
    )
    return _vendors(tenant, f"orderingstack enabled for {a.tenant_id}")


def _disable(admin: Admin, a: argparse.Namespace) -> Output:
    return _vendors(admin.disable_vendor(a.tenant_id, a.vendor), f"{a.vendor} disabled for {a.tenant_id}")


def _replay(admin: Admin, a: argparse.Namespace) -> Output:
    count = admin.replay(a.tenant_id, a.since, a.domain, progress=lambda n: _progress(f"  {n} deliveries so far"))
    return Output({"tenant_id": a.tenant_id, "enqueued": count}, f"{count} deliveries enqueued for ingest")


def _pull_from(admin: Admin, a: argparse.Namespace) -> Output:
    moved = admin.pull_from(a.tenant_id, a.since, a.place, progress=lambda p: _progress(f"  place {p} moved"))
    text = f"the next Storyous pull reads bills changed since {a.since} at: {', '.join(moved)}"
    return Output({"tenant_id": a.tenant_id, "since": a.since.isoformat(), "places": list(moved)}, text)


def _quarantine(admin: Admin, a: argparse.Namespace) -> Output:
    ops = admin.quarantine()
    admin._tenant(a.tenant_id)
    if a.action == "list":
        rows = [r.summary() for r in ops.records(a.tenant_id, a.domain)]
        lines = [
            f"{r['qid']}\t{r['domain']}\t{r['entity_id']}\t{r['code']}\t{r['attempts']}\t{r['reason']}" for r in rows
        ]
        return Output(rows, "\n".join(lines), f"{len(rows)} quarantined record(s)")
    if a.action == "show":
        shown = ops.show(a.tenant_id, a.qid).summary()
        return Output(shown, json.dumps(shown, indent=2, ensure_ascii=False))
    if not a.qid and not a.all:
        raise AdminError("name the records (quarantine ids from 'quarantine list') or pass --all")
    try:
        selected = ops.select(a.tenant_id, a.qid or None, a.domain)
    except NotFound as exc:
        raise AdminError(str(exc)) from exc
    if a.action == "retry":
        deliveries = ops.retry(selected)
        text = f"{len(selected)} record(s) in {deliveries} deliveries queued for ingest again"
        return Output({"records": len(selected), "deliveries": deliveries}, text)
    dropped = ops.drop(selected)
    return Output({"dropped": dropped}, f"{dropped} record(s) dropped")


def _resend(admin: Admin, a: argparse.Namespace) -> Output:
    since = None
    if a.since:
        try:
            since = format_timestamp(datetime.fromisoformat(a.since).astimezone(UTC))
        except ValueError as exc:
            raise AdminError(f"--since must be an ISO date or time: {a.since!r}") from exc
    report = admin.resend(
        a.tenant_id,
        customer_ids=a.customers,
        since=since,
        vendor=a.vendor,
        progress=lambda r: _progress(f"  {r.customers} customer(s) queued so far"),
    )
    if report.missing:
        raise AdminError(f"no customer {', '.join(report.missing)} in tenant {a.tenant_id}; the others were queued")
    return Output(asdict(report), json.dumps(asdict(report), indent=2))


def _forget(admin: Admin, a: argparse.Namespace) -> Output:
    tenant = admin._tenant(a.tenant_id)
    result = admin.customer_ops().forget(
        tenant, a.customer_id, wait_seconds=a.wait, progress=lambda s: _progress(f"  waiting for ingest: {s:.0f} s")
    )
    if not result.done:
        raise AdminError(
            f"erasure {result.request_id} is queued but ingest has not finished it in {a.wait:.0f} s: "
            "run 'forget' again later (every step is repeated safely) or see 'trace'"
        )
    return Output(result.entry, erasure_text(result.entry))


def _trace(admin: Admin, a: argparse.Namespace) -> Output:
    found = admin.customer_ops().trace(admin._tenant(a.tenant_id), a.customer_id)
    return Output(found, render(found))


def _secrets(admin: Admin, a: argparse.Namespace) -> Output:
    reports = admin.migrate_secrets(a.tenant_id, delete_legacy=a.delete_legacy)
    lines = [
        f"{r.tenant_id}: {r.note}"
        if r.note
        else f"{r.tenant_id}: {len(r.created)} created, {len(r.present)} already split, {len(r.differs)} kept newer"
        + (f", unknown keys {', '.join(r.unknown_keys)}" if r.unknown_keys else "")
        + (", legacy secret deleted" if r.legacy_deleted else "")
        for r in reports
    ]
    return Output([asdict(r) for r in reports], "\n".join(lines))


COMMANDS: dict[str, Callable[[Admin, argparse.Namespace], Output]] = {
    "create": _create,
    "add-place": _add_place,
    "list": _list,
    "show": _show,
    "set-webhook-secret": _webhook_secret,
    "set-storyous-client": _storyous_client,
    "issue-key": _issue_key,
    "enable-custobar": _custobar,
    "enable-voyado": _voyado,
    "enable-orderingstack": _orderingstack,
    "disable-vendor": _disable,
    "replay": _replay,
    "pull-from": _pull_from,
    "quarantine": _quarantine,
    "resend": _resend,
    "forget": _forget,
    "trace": _trace,
    "secrets": _secrets,
}


def _target(a: argparse.Namespace) -> Target:
    if a.stack:
        return Target.from_stack(a.stack)
    if a.local:
        return Target.from_local(a.state)
    return Target.from_environment()


def _number(value: Any) -> Any:
    """DynamoDB's numbers (Decimal) as JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _fail(a: argparse.Namespace, message: str, code: int) -> int:
    if a.json:
        print(json.dumps({"error": message}))
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    a = parser(sorted(COMMANDS)).parse_args(argv)
    try:
        out = COMMANDS[a.command](Admin(_target(a)), a)
    except AdminError as exc:
        return _fail(a, str(exc), 2)
    except HubError as exc:  # the store or secret could not be reached: say what AWS said
        return _fail(a, f"{exc} ({exc.__cause__})", 1)
    except (ClientError, BotoCoreError) as exc:
        return _fail(a, f"AWS said: {exc}", 1)
    if out.note:
        print(out.note, file=sys.stderr)
    text = json.dumps(out.data, indent=2, ensure_ascii=False, default=_number) if a.json else out.text
    try:
        if text:
            print(text, flush=True)
    except BrokenPipeError:  # `loyalty-hub list | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
