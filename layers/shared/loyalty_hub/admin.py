"""Tenant administration: `python -m loyalty_hub.admin --help`.

Works against a deployed stage (`--stack loyalty-hub-prod`: names from the stack's outputs, AWS
credentials as usual) or the local stack (`--local`: names and endpoint from .local/stack.json).
Secrets go to the tenant's secret of their use (D33) and are shown once; only hashes of DailyStory keys are kept.
"""

import argparse
import json
import os
import secrets as random_secrets
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from loyalty_hub import aws
from loyalty_hub.auth import DAILYSTORY_KEY_HASHES, hash_api_key, new_api_key
from loyalty_hub.dal import archive
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.quarantine import QuarantineStore
from loyalty_hub.dal.syncstate import CursorConflict, PullCursor, SyncStateStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.errors import HubError, NotFound
from loyalty_hub.logic.customers import format_timestamp
from loyalty_hub.logic.quarantine import QuarantineOps
from loyalty_hub.logic.webhook import WEBHOOK_SECRET_KEYS
from loyalty_hub.models.datasync import DeliveryPointer, parse_envelope
from loyalty_hub.models.ids import is_valid_id
from loyalty_hub.models.tenant import CustobarSettings, OrderingStackSettings, Place, Tenant, VoyadoSettings
from loyalty_hub.secret_admin import Migration, SecretStore
from loyalty_hub.secrets import USES

if TYPE_CHECKING:
    from loyalty_hub.logic.resend import ResendReport

LOCAL_STATE = Path(".local/stack.json")


class AdminError(Exception):
    """Bad input or state; the message says what to do, and nothing was changed."""


@dataclass(frozen=True)
class Target:
    tenants_table: str
    secrets_prefix: str
    raw_bucket: str
    ingest_queue_url: str
    endpoint_url: str | None = None
    sync_state_table: str | None = None  # absent from stacks deployed before the scheduled pull
    quarantine_table: str | None = None  # absent from stacks deployed before the quarantine
    customers_table: str | None = None
    vendor_queues: dict[str, str] = field(default_factory=dict)  # vendor -> queue url, for resend

    @classmethod
    def from_stack(cls, stack_name: str) -> "Target":
        outputs = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]["Outputs"]
        values = {o["OutputKey"]: o["OutputValue"] for o in outputs}
        return cls(
            values["TenantsTableName"],
            values["SecretsPrefix"],
            values["RawBucketName"],
            values["IngestQueueUrl"],
            sync_state_table=values.get("SyncStateTableName"),
            quarantine_table=values.get("QuarantineTableName"),
            customers_table=values.get("CustomersTableName"),
            vendor_queues=json.loads(values.get("VendorQueueUrls", "{}")),
        )

    @classmethod
    def from_local(cls, state: Path = LOCAL_STATE) -> "Target":
        if not state.is_file():
            raise AdminError(f"{state} not found: start the local stack first (make run)")
        values = json.loads(state.read_text())
        return cls(
            **{k: values[k] for k in ("tenants_table", "secrets_prefix", "raw_bucket", "ingest_queue_url")},
            endpoint_url=values["endpoint_url"],
            sync_state_table=values.get("sync_state_table"),
            quarantine_table=values.get("quarantine_table"),
            customers_table=values.get("customers_table"),
            vendor_queues=values.get("vendor_queues", {}),
        )

    @classmethod
    def from_environment(cls) -> "Target":
        try:
            return cls(
                os.environ["TENANTS_TABLE"],
                os.environ["SECRETS_PREFIX"],
                os.environ["RAW_BUCKET"],
                os.environ["INGEST_QUEUE_URL"],
                os.environ.get("AWS_ENDPOINT_URL"),
                os.environ.get("SYNC_STATE_TABLE"),
                os.environ.get("QUARANTINE_TABLE"),
                os.environ.get("CUSTOMERS_TABLE"),
                json.loads(os.environ.get("VENDOR_QUEUES", "{}")),
            )
        except KeyError as exc:
            raise AdminError(f"{exc.args[0]} is not set: use --stack NAME or --local") from exc


class Admin:
    def __init__(self, target: Target) -> None:
        self.target = target
        if target.endpoint_url:  # the local stack: moto takes any credentials, and needs some
            os.environ["AWS_ENDPOINT_URL"] = target.endpoint_url
            for name, value in (
                ("AWS_ACCESS_KEY_ID", "local"),
                ("AWS_SECRET_ACCESS_KEY", "local"),
                ("AWS_DEFAULT_REGION", "eu-central-1"),
            ):
                os.environ.setdefault(name, value)
            aws.reset()
        self.tenants = TenantStore(target.tenants_table, cache_seconds=0)
        self.secrets = SecretStore(boto3.client("secretsmanager"), target.secrets_prefix)

    # ------------------------------------------------------------ tenants
    def create_tenant(self, tenant_id: str, name: str, time_zone: str, country: str, places: dict[str, str]) -> Tenant:
        try:
            self.tenants.get(tenant_id)
        except NotFound:
            pass
        else:
            raise AdminError(f"tenant {tenant_id} exists already: use 'add-place' or 'show'")
        tenant = _valid(
            lambda: Tenant(
                tenant_id=tenant_id,
                name=name,
                time_zone=time_zone,
                country=country,
                places={p: Place(name=n) for p, n in places.items()},
            )
        )
        self.tenants.put(tenant)
        return tenant

    def add_place(self, tenant_id: str, place_id: str, name: str) -> Tenant:
        tenant = self._tenant(tenant_id)
        if not is_valid_id(place_id):
            raise AdminError(f"a place id is 1 to 64 of A-Z a-z 0-9 _ - (Storyous uses 24 hex digits): {place_id!r}")
        updated = tenant.model_copy(update={"places": {**tenant.places, place_id: Place(name=name)}})
        self.tenants.put(updated)
        return updated

    def show(self, tenant_id: str) -> dict[str, Any]:
        tenant = self._tenant(tenant_id)
        return {
            **tenant.model_dump(mode="json"),
            "secrets": [self.secrets.name(use, tenant_id) for use in USES if self.secrets.exists(use, tenant_id)],
            "storyous_webhook_secret_set": bool(self.secrets.read("webhook", tenant_id).get(WEBHOOK_SECRET_KEYS[0])),
            "dailystory_keys": len(self.secrets.read("dailystory", tenant_id).get(DAILYSTORY_KEY_HASHES, [])),
            "storyous_client_set": bool(self.secrets.read("storyous", tenant_id).get("storyous_client_id")),
        }

    def list(self) -> list[Tenant]:
        return sorted(self.tenants.list(), key=lambda t: t.tenant_id)

    def enable_custobar(
        self, tenant_id: str, *, base_url: str, auth: str, field_prefix: str, credentials: dict[str, str]
    ) -> Tenant:
        """Custobar for the tenant: where, how to authenticate, the company-field prefix; credentials go to
        the tenant's secret (custobar_token, or custobar_username and custobar_password for Basic)."""
        tenant = self._tenant(tenant_id)
        settings = _valid(lambda: CustobarSettings(base_url=base_url, auth=auth, field_prefix=field_prefix))
        needed = ("custobar_username", "custobar_password") if settings.auth == "Basic" else ("custobar_token",)
        missing = [name for name in needed if not credentials.get(name)]
        if missing:
            raise AdminError(f"{settings.auth} auth needs {', '.join(missing)}")
        self.secrets.write("custobar", tenant_id, {name: credentials[name] for name in needed})
        return self._set_vendor(tenant, "custobar", settings)

    def enable_voyado(
        self, tenant_id: str, *, base_url: str, api_key: str, bucket_size: int = 60, refill_per_second: float = 1.0
    ) -> Tenant:
        """Voyado lookups for the tenant; the bridge's API key goes to the tenant's secret."""
        tenant = self._tenant(tenant_id)
        settings = _valid(
            lambda: VoyadoSettings(
                base_url=base_url,
                bucket_size=bucket_size,
                refill_per_second=refill_per_second,
            )
        )
        if not api_key.strip():
            raise AdminError("Voyado needs the bridge's API key (--api-key or VOYADO_API_KEY)")
        self.secrets.write("voyado", tenant_id, {"voyado_api_key": api_key})
        return self._set_vendor(tenant, "voyado", settings)

    def enable_orderingstack(
        self, tenant_id: str, *, base_url: str, os_tenant: str, grant: str, credentials: dict[str, str]
    ) -> Tenant:
        """OrderingStack for the tenant; client id and secret (and user, for the password grant) go to the secret."""
        tenant = self._tenant(tenant_id)
        settings = _valid(lambda: OrderingStackSettings(base_url=base_url, tenant=os_tenant, grant=grant))
        needed = ["orderingstack_client_id", "orderingstack_client_secret"]
        if settings.grant == "password":
            needed += ["orderingstack_username", "orderingstack_password"]
        missing = [name for name in needed if not credentials.get(name)]
        if missing:
            raise AdminError(f"OrderingStack needs {', '.join(missing)}")
        self.secrets.write("orderingstack", tenant_id, {n: credentials[n] for n in needed})
        return self._set_vendor(tenant, "orderingstack", settings)

    def _set_vendor(self, tenant: Tenant, vendor: str, settings: Any) -> Tenant:
        updated = tenant.model_copy(update={"vendors": tenant.vendors.model_copy(update={vendor: settings})})
        self.tenants.put(updated)
        return updated

    def disable_vendor(self, tenant_id: str, vendor: str) -> Tenant:
        tenant = self._tenant(tenant_id)
        current = getattr(tenant.vendors, vendor, None)
        if current is None:
            raise AdminError(f"{vendor} is not configured for {tenant_id}")
        vendors = tenant.vendors.model_copy(update={vendor: current.model_copy(update={"enabled": False})})
        updated = tenant.model_copy(update={"vendors": vendors})
        self.tenants.put(updated)
        return updated

    # ------------------------------------------------------------ secrets
    def set_webhook_secret(self, tenant_id: str, value: str | None) -> str:
        """Sets the secret Storyous sends; the one it replaces keeps working until the next change."""
        self._tenant(tenant_id)
        secret = value or random_secrets.token_urlsafe(32)
        if len(secret) < 16:
            raise AdminError("a webhook secret needs at least 16 characters")
        previous = self.secrets.read("webhook", tenant_id).get(WEBHOOK_SECRET_KEYS[0])
        stored = {WEBHOOK_SECRET_KEYS[0]: secret, WEBHOOK_SECRET_KEYS[1]: previous if previous != secret else None}
        self.secrets.write("webhook", tenant_id, {k: v for k, v in stored.items() if v is not None})
        return secret

    def set_storyous_client(self, tenant_id: str, client_id: str, client_secret: str) -> None:
        """The Storyous API client (client credentials) the scheduled Bills pull will use."""
        self._tenant(tenant_id)
        if not client_id.strip() or not client_secret.strip():
            raise AdminError("both a client id and a client secret are needed")
        self.secrets.write(
            "storyous", tenant_id, {"storyous_client_id": client_id, "storyous_client_secret": client_secret}
        )

    def issue_dailystory_key(self, tenant_id: str, *, rotate: bool) -> str:
        """A new key, shown once; `rotate` revokes every earlier key of the tenant."""
        self._tenant(tenant_id)
        key = new_api_key(tenant_id)
        stored = self.secrets.read("dailystory", tenant_id)
        earlier = [] if rotate else stored.get(DAILYSTORY_KEY_HASHES, [])
        stored[DAILYSTORY_KEY_HASHES] = [*earlier, hash_api_key(key)]
        self.secrets.write("dailystory", tenant_id, stored)
        return key

    def add_dailystory_key(self, tenant_id: str, key: str) -> None:
        """Registers a key chosen elsewhere (the local demo's fixed key); must read '<tenant>.<random>'."""
        if not key.startswith(f"{tenant_id}.") or len(key) < len(tenant_id) + 17:
            raise AdminError(f"a key must read '{tenant_id}.<at least 16 random characters>'")
        stored = self.secrets.read("dailystory", tenant_id)
        stored[DAILYSTORY_KEY_HASHES] = sorted({*stored.get(DAILYSTORY_KEY_HASHES, []), hash_api_key(key)})
        self.secrets.write("dailystory", tenant_id, stored)

    # ------------------------------------------------------------ replay
    def replay(self, tenant_id: str, since: date, domain: str | None = None) -> int:
        """Enqueues every archived delivery of the tenant received on or after `since` for ingest again."""
        self._tenant(tenant_id)
        s3, sqs = aws.client("s3"), aws.client("sqs")
        count = 0
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.target.raw_bucket, Prefix=f"raw/{tenant_id}/"
        ):
            for obj in page.get("Contents", []):
                parts = archive.parse_key(obj["Key"])
                if parts.received_on < since or (domain and parts.domain != domain):
                    continue
                envelope = parse_envelope(archive.get_raw(s3, self.target.raw_bucket, obj["Key"]))
                pointer = DeliveryPointer(
                    tenant_id=tenant_id,
                    place_id=parts.place_id,
                    domain=envelope.dataDomain,
                    bucket=self.target.raw_bucket,
                    key=obj["Key"],
                    sha256=parts.sha256,
                    received_at=obj["LastModified"].astimezone(UTC),
                    entities=len(envelope.data),
                )
                archive.enqueue(sqs, self.target.ingest_queue_url, pointer)
                count += 1
        return count

    # ------------------------------------------------------------ scheduled pull
    def pull_from(self, tenant_id: str, since: date, place_id: str | None = None) -> tuple[str, ...]:
        """Points the Storyous pull of the tenant's active places (or one) at `since` (midnight, the tenant's
        time): the next runs read every bill changed since then. Returns the places moved."""
        tenant = self._tenant(tenant_id)
        if self.target.sync_state_table is None:
            raise AdminError("this stack has no SyncStateTable output: deploy the current template first")
        if place_id is not None and not tenant.has_place(place_id):
            raise AdminError(f"tenant {tenant_id} has no active place {place_id}")
        places = [place_id] if place_id else sorted(p for p, place in tenant.places.items() if place.active)
        store = SyncStateStore(aws.client("dynamodb"), self.target.sync_state_table)
        start = datetime.combine(since, time.min, tenant.zone)
        moved: tuple[str, ...] = ()
        for place in places:
            current = store.pull_cursor(tenant_id, place)
            cursor = PullCursor(
                tenant_id,
                place,
                since=start,
                completed_at=current.completed_at if current else None,
                revision=current.revision if current else 0,
            )
            try:
                store.save_pull_cursor(cursor)
            except CursorConflict as exc:
                raise AdminError(
                    f"a pull run is moving the cursor of place {place} now; run this again in a minute"
                    + (f" (already moved: {', '.join(moved)})" if moved else "")
                ) from exc
            moved += (place,)
        return moved

    # ------------------------------------------------------------ quarantine and resend
    def quarantine(self) -> QuarantineOps:
        if self.target.quarantine_table is None:
            raise AdminError("this stack has no QuarantineTableName output: deploy the current template first")
        table = QuarantineStore(aws.client("dynamodb"), self.target.quarantine_table)
        return QuarantineOps(table, aws.client("sqs"), self.target.ingest_queue_url)

    def resend(
        self,
        tenant_id: str,
        *,
        customer_ids: Sequence[str] | None,
        since: str | None,
        vendor: str | None,
        progress: Callable[["ResendReport"], None],
    ) -> "ResendReport":
        """Puts the tenant's customers back on their vendors' queues from the table's current state."""
        tenant = self._tenant(tenant_id)
        if self.target.customers_table is None or not self.target.vendor_queues:
            raise AdminError(
                "this stack has no CustomersTableName/VendorQueueUrls outputs: deploy the current template"
            )
        if not tenant.vendors.enabled():
            raise AdminError(f"no vendor is enabled for {tenant_id}: nothing to resend to")
        if vendor is not None and vendor not in tenant.vendors.enabled():
            raise AdminError(
                f"{vendor} is not enabled for {tenant_id} (enabled: {', '.join(tenant.vendors.enabled())})"
            )
        # Imported here: it brings the functions' Logger and Metrics, which read their environment once,
        # and the local stack imports this module before it sets the functions' environment.
        from loyalty_hub.logic.resend import ResendDeps, resend  # noqa: PLC0415

        deps = ResendDeps(
            self.tenants,
            CustomerStore(aws.client("dynamodb"), self.target.customers_table),
            aws.client("sqs"),
            self.target.vendor_queues,
        )
        return resend(
            deps,
            tenant_id,
            customer_ids=customer_ids,
            since=since,
            vendors=[vendor] if vendor else None,
            progress=progress,
        )

    def migrate_secrets(self, tenant_ids: Sequence[str] | None, *, delete_legacy: bool) -> Sequence[Migration]:
        """The split layout (D33) from each tenant's single secret of earlier versions: run it before
        deploying the version that reads the split secrets, and again with `delete_legacy` after."""
        ids = list(tenant_ids) if tenant_ids else [t.tenant_id for t in self.list()]
        for tenant_id in ids:
            self._tenant(tenant_id)
        return [self.secrets.migrate(tenant_id, delete_legacy=delete_legacy) for tenant_id in ids]

    # ------------------------------------------------------------ helpers
    def _tenant(self, tenant_id: str) -> Tenant:
        try:
            return self.tenants.get(tenant_id)
        except NotFound as exc:
            raise AdminError(f"no tenant {tenant_id}: create it with 'create'") from exc


def _valid[T](build: Callable[[], T]) -> T:
    try:
        result = build()
    except ValidationError as exc:
        raise AdminError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc
    return result


def _place(value: str) -> tuple[str, str]:
    place_id, _, name = value.partition("=")
    return place_id, name


def _vendor_commands(commands: Any) -> None:
    custobar = commands.add_parser("enable-custobar", help="send this tenant's customers and sales to Custobar")
    custobar.add_argument("tenant_id")
    custobar.add_argument("--base-url", required=True, help="https://<company>.custobar.com")
    custobar.add_argument("--auth", choices=["Token", "Bearer", "Basic"], default="Token")
    custobar.add_argument("--field-prefix", required=True, help="company fields are <prefix>__<name>")
    custobar.add_argument("--token", help="for Token or Bearer auth (or CUSTOBAR_TOKEN)")
    custobar.add_argument("--username", help="for Basic auth")
    custobar.add_argument("--password", help="for Basic auth (or CUSTOBAR_PASSWORD)")

    disable = commands.add_parser("disable-vendor", help="stop sending to a vendor (its settings are kept)")
    disable.add_argument("tenant_id")
    disable.add_argument("vendor", choices=["custobar", "voyado", "orderingstack"])

    voyado = commands.add_parser("enable-voyado", help="enrich this tenant's customers from Voyado")
    voyado.add_argument("tenant_id")
    voyado.add_argument("--base-url", required=True, help="https://live.voyado.eastsideapps.io")
    voyado.add_argument("--api-key", help="the bridge's headless API key (or VOYADO_API_KEY)")
    voyado.add_argument("--bucket-size", type=int, default=60)
    voyado.add_argument("--refill-per-second", type=float, default=1.0)

    ordering = commands.add_parser("enable-orderingstack", help="post this tenant's purchases to OrderingStack")
    ordering.add_argument("tenant_id")
    ordering.add_argument("--base-url", required=True)
    ordering.add_argument("--os-tenant", required=True, help="OrderingStack's x-tenant")
    ordering.add_argument("--grant", choices=["client_credentials", "password"], default="client_credentials")
    ordering.add_argument("--client-id", required=True)
    ordering.add_argument("--client-secret", help="or ORDERINGSTACK_CLIENT_SECRET")
    ordering.add_argument("--username", help="for the password grant")
    ordering.add_argument("--password", help="for the password grant (or ORDERINGSTACK_PASSWORD)")


def _record_commands(commands: Any) -> None:
    quarantine = commands.add_parser("quarantine", help="records ingest could not store: list, show, retry, drop")
    actions = quarantine.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the tenant's quarantined records, oldest first")
    listing.add_argument("tenant_id")
    listing.add_argument("--domain")
    show = actions.add_parser("show", help="one record: its reason and where its delivery lies")
    show.add_argument("tenant_id")
    show.add_argument("qid")
    for name, text in (
        ("retry", "ingest the records' deliveries again (after fixing the cause)"),
        ("drop", "forget records (their deliveries stay in the archive)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("tenant_id")
        action.add_argument("qid", nargs="*", help="quarantine ids (see list)")
        action.add_argument("--all", action="store_true", help="every record of the tenant (or of --domain)")
        action.add_argument("--domain")

    again = commands.add_parser("resend", help="put customers back on their vendors' queues from the table")
    again.add_argument("tenant_id")
    again.add_argument("--customer", action="append", dest="customers", metavar="ID", help="repeatable")
    again.add_argument("--since", help="customers updated at or after this ISO time (default: all)")
    again.add_argument("--vendor", choices=["custobar", "voyado", "orderingstack"])


def _run_quarantine(admin: Admin, args: argparse.Namespace) -> None:
    ops = admin.quarantine()
    admin._tenant(args.tenant_id)
    if args.action == "list":
        records = ops.records(args.tenant_id, args.domain)
        for record in records:
            r = record.summary()
            print(f"{r['qid']}\t{r['domain']}\t{r['entity_id']}\t{r['code']}\t{r['attempts']}\t{r['reason']}")
        print(f"{len(records)} quarantined record(s)", file=sys.stderr)
        return
    if args.action == "show":
        print(json.dumps(ops.show(args.tenant_id, args.qid).summary(), indent=2, ensure_ascii=False))
        return
    if not args.qid and not args.all:
        raise AdminError("name the records (quarantine ids from 'quarantine list') or pass --all")
    try:
        selected = ops.select(args.tenant_id, args.qid or None, args.domain)
    except NotFound as exc:
        raise AdminError(str(exc)) from exc
    if args.action == "retry":
        deliveries = ops.retry(selected)
        print(f"{len(selected)} record(s) in {deliveries} deliveries queued for ingest again")
    else:
        print(f"{ops.drop(selected)} record(s) dropped")


def _run_resend(admin: Admin, args: argparse.Namespace) -> None:
    since = None
    if args.since:
        try:
            since = format_timestamp(datetime.fromisoformat(args.since).astimezone(UTC))
        except ValueError as exc:
            raise AdminError(f"--since must be an ISO date or time: {args.since!r}") from exc

    def progress(report: "ResendReport") -> None:
        print(f"  {report.customers} customer(s) queued so far", file=sys.stderr, flush=True)

    report = admin.resend(
        args.tenant_id, customer_ids=args.customers, since=since, vendor=args.vendor, progress=progress
    )
    print(json.dumps(asdict(report), indent=2))
    if report.missing:
        raise AdminError(f"no customer {', '.join(report.missing)} in tenant {args.tenant_id}; the others were queued")


def _run_secrets(admin: Admin, args: argparse.Namespace) -> None:
    reports = admin.migrate_secrets(args.tenant_id, delete_legacy=args.delete_legacy)
    print(json.dumps([asdict(r) for r in reports], indent=2))


RUNNERS: dict[str, Callable[[Admin, argparse.Namespace], None]] = {
    "quarantine": _run_quarantine,
    "resend": _run_resend,
    "secrets": _run_secrets,
}


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m loyalty_hub.admin", description=__doc__.splitlines()[0])
    where = cli.add_mutually_exclusive_group()
    where.add_argument("--stack", help="a deployed stack's name (e.g. loyalty-hub-prod)")
    where.add_argument("--local", action="store_true", help="the local stack started by 'make run'")
    commands = cli.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create", help="create a tenant (a Storyous merchant)")
    create.add_argument("tenant_id", help="the Storyous merchantId")
    create.add_argument("--name", required=True)
    create.add_argument("--time-zone", default="Europe/Prague")
    create.add_argument("--country", default="CZ")
    create.add_argument("--place", action="append", default=[], type=_place, metavar="PLACE_ID[=NAME]")

    place = commands.add_parser("add-place", help="enable DataSync deliveries for one more place")
    place.add_argument("tenant_id")
    place.add_argument("place_id")
    place.add_argument("--name", default="")

    commands.add_parser("list", help="list tenants")
    show = commands.add_parser("show", help="show a tenant (secrets are never shown)")
    show.add_argument("tenant_id")

    webhook = commands.add_parser("set-webhook-secret", help="set the secret Storyous sends (generated if omitted)")
    webhook.add_argument("tenant_id")
    webhook.add_argument("--secret")

    client = commands.add_parser("set-storyous-client", help="the Storyous API client for the scheduled pull")
    client.add_argument("tenant_id")
    client.add_argument("--client-id", required=True)
    client.add_argument("--client-secret", help="or STORYOUS_CLIENT_SECRET")

    key = commands.add_parser("issue-key", help="issue a DailyStory API key (shown once)")
    key.add_argument("tenant_id")
    key.add_argument("--rotate", action="store_true", help="revoke every earlier key")

    _vendor_commands(commands)

    pull = commands.add_parser("pull-from", help="make the scheduled Storyous pull read bills changed since a date")
    pull.add_argument("tenant_id")
    pull.add_argument("--since", required=True, type=date.fromisoformat, help="YYYY-MM-DD (the tenant's midnight)")
    pull.add_argument("--place", help="one place only (default: every active place)")

    _record_commands(commands)

    stored = commands.add_parser("secrets", help="the tenants' secrets, one per use (D33)")
    secret_actions = stored.add_subparsers(dest="action", required=True)
    migrate = secret_actions.add_parser("migrate", help="split each tenant's single legacy secret by use")
    migrate.add_argument("tenant_id", nargs="*", help="default: every tenant")
    migrate.add_argument("--delete-legacy", action="store_true", help="then delete it (recoverable for 7 days)")

    replay = commands.add_parser("replay", help="ingest archived deliveries again")
    replay.add_argument("tenant_id")
    replay.add_argument("--since", required=True, type=date.fromisoformat, help="YYYY-MM-DD (receipt date)")
    replay.add_argument("--domain")
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        target = (
            Target.from_stack(args.stack)
            if args.stack
            else Target.from_local()
            if args.local
            else Target.from_environment()
        )
        admin = Admin(target)
        match args.command:
            case "create":
                tenant = admin.create_tenant(args.tenant_id, args.name, args.time_zone, args.country, dict(args.place))
                print(json.dumps(tenant.model_dump(mode="json"), indent=2, ensure_ascii=False))
            case "add-place":
                print(
                    json.dumps(
                        admin.add_place(args.tenant_id, args.place_id, args.name).model_dump(mode="json"), indent=2
                    )
                )
            case "list":
                for tenant in admin.list():
                    print(f"{tenant.tenant_id}\t{tenant.name}\t{len(tenant.places)} place(s)")
            case "show":
                print(json.dumps(admin.show(args.tenant_id), indent=2, ensure_ascii=False))
            case "set-webhook-secret":
                print(admin.set_webhook_secret(args.tenant_id, args.secret))
            case "set-storyous-client":
                secret = args.client_secret or os.environ.get("STORYOUS_CLIENT_SECRET", "")
                admin.set_storyous_client(args.tenant_id, args.client_id, secret)
                print("storyous client stored")
            case "issue-key":
                print(admin.issue_dailystory_key(args.tenant_id, rotate=args.rotate))
            case "enable-custobar":
                credentials = {
                    "custobar_token": args.token or os.environ.get("CUSTOBAR_TOKEN", ""),
                    "custobar_username": args.username or "",
                    "custobar_password": args.password or os.environ.get("CUSTOBAR_PASSWORD", ""),
                }
                tenant = admin.enable_custobar(
                    args.tenant_id,
                    base_url=args.base_url,
                    auth=args.auth,
                    field_prefix=args.field_prefix,
                    credentials=credentials,
                )
                print(json.dumps(tenant.model_dump(mode="json")["vendors"], indent=2))
            case "enable-voyado":
                tenant = admin.enable_voyado(
                    args.tenant_id,
                    base_url=args.base_url,
                    api_key=args.api_key or os.environ.get("VOYADO_API_KEY", ""),
                    bucket_size=args.bucket_size,
                    refill_per_second=args.refill_per_second,
                )
                print(json.dumps(tenant.model_dump(mode="json")["vendors"], indent=2))
            case "enable-orderingstack":
                credentials = {
                    "orderingstack_client_id": args.client_id,
                    "orderingstack_client_secret": args.client_secret
                    or os.environ.get("ORDERINGSTACK_CLIENT_SECRET", ""),
                    "orderingstack_username": args.username or "",
                    "orderingstack_password": args.password or os.environ.get("ORDERINGSTACK_PASSWORD", ""),
                }
                tenant = admin.enable_orderingstack(
                    args.tenant_id,
                    base_url=args.base_url,
                    os_tenant=args.os_tenant,
                    grant=args.grant,
                    credentials=credentials,
                )
                print(json.dumps(tenant.model_dump(mode="json")["vendors"], indent=2))
            case "disable-vendor":
                print(json.dumps(admin.disable_vendor(args.tenant_id, args.vendor).model_dump(mode="json")["vendors"]))
            case "replay":
                print(f"{admin.replay(args.tenant_id, args.since, args.domain)} deliveries enqueued for ingest")
            case "quarantine" | "resend" | "secrets":
                RUNNERS[args.command](admin, args)
            case "pull-from":
                moved = admin.pull_from(args.tenant_id, args.since, args.place)
                print(f"the next Storyous pull reads bills changed since {args.since} at: {', '.join(moved)}")
    except AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except HubError as exc:  # the store or secret could not be reached: say what AWS said
        print(f"error: {exc} ({exc.__cause__})", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as exc:
        print(f"error: AWS said: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
