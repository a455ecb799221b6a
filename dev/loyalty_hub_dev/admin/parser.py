"""The admin command's arguments. No argument carries a secret: each is read from its environment
variable or stdin (cli._secret), named in the help."""

import argparse
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from loyalty_hub.models.vendors import VENDORS as REGISTERED
from loyalty_hub_dev.admin.target import LOCAL_STATE

VENDORS = sorted(REGISTERED)


def _place(value: str) -> tuple[str, str]:
    place_id, _, name = value.partition("=")
    return place_id, name


def _tenant_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    commands.add_parser("show", help="show a tenant (names its secrets, never their values)").add_argument("tenant_id")
    webhook = commands.add_parser("set-webhook-secret", help="set the secret Storyous sends (printed once)")
    webhook.add_argument("tenant_id")
    webhook.add_argument(
        "--given", action="store_true", help="read it (STORYOUS_WEBHOOK_SECRET or stdin), not generate"
    )
    client = commands.add_parser("set-storyous-client", help="the Storyous API client for the scheduled pull")
    client.add_argument("tenant_id")
    client.add_argument("--client-id", required=True, help="its secret: STORYOUS_CLIENT_SECRET or stdin")
    key = commands.add_parser("issue-key", help="issue a DailyStory API key (printed once)")
    key.add_argument("tenant_id")
    key.add_argument("--rotate", action="store_true", help="revoke every earlier key")


def _vendor_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    custobar = commands.add_parser("enable-custobar", help="send this tenant's customers and sales to Custobar")
    custobar.add_argument("tenant_id")
    custobar.add_argument("--base-url", required=True, help="https://<company>.custobar.com")
    secrets = "Token/Bearer: CUSTOBAR_TOKEN or stdin; Basic: --username, CUSTOBAR_PASSWORD or stdin"
    custobar.add_argument("--auth", choices=["Token", "Bearer", "Basic"], default="Token", help=secrets)
    custobar.add_argument("--field-prefix", required=True, help="company fields are <prefix>__<name>")
    custobar.add_argument("--username", help="for Basic auth")
    voyado = commands.add_parser("enable-voyado", help="enrich customers from Voyado (VOYADO_API_KEY or stdin)")
    voyado.add_argument("tenant_id")
    voyado.add_argument("--base-url", required=True, help="https://live.voyado.eastsideapps.io")
    voyado.add_argument("--bucket-size", type=int, default=60)
    voyado.add_argument("--refill-per-second", type=float, default=1.0)
    ordering = commands.add_parser("enable-orderingstack", help="post this tenant's purchases to OrderingStack")
    ordering.add_argument("tenant_id")
    ordering.add_argument("--base-url", required=True)
    ordering.add_argument("--os-tenant", required=True, help="OrderingStack's x-tenant")
    secrets = "secrets: ORDERINGSTACK_CLIENT_SECRET (and ORDERINGSTACK_PASSWORD), or stdin"
    ordering.add_argument(
        "--grant", choices=["client_credentials", "password"], default="client_credentials", help=secrets
    )
    ordering.add_argument("--client-id", required=True)
    ordering.add_argument("--username", help="for the password grant")
    disable = commands.add_parser("disable-vendor", help="stop sending to a vendor (its settings are kept)")
    disable.add_argument("tenant_id")
    disable.add_argument("vendor", choices=VENDORS)


def _record_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    replay = commands.add_parser("replay", help="ingest archived deliveries again")
    replay.add_argument("tenant_id")
    replay.add_argument("--since", required=True, type=date.fromisoformat, help="YYYY-MM-DD (receipt date)")
    replay.add_argument("--domain")
    pull = commands.add_parser("pull-from", help="make the scheduled Storyous pull read bills changed since a date")
    pull.add_argument("tenant_id")
    pull.add_argument("--since", required=True, type=date.fromisoformat, help="YYYY-MM-DD (the tenant's midnight)")
    pull.add_argument("--place", help="one place only (default: every active place)")
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
    again.add_argument("--vendor", choices=VENDORS)
    forget = commands.add_parser("forget", help="erase a customer's personal data everywhere the hub holds it")
    forget.add_argument("tenant_id")
    forget.add_argument("customer_id", help="the Storyous customerId")
    forget.add_argument("--wait", type=float, default=300.0, help="seconds to wait for ingest to finish (default 300)")
    follow = commands.add_parser("trace", help="one customer across the hub: deliveries, state, vendors")
    follow.add_argument("tenant_id")
    follow.add_argument("customer_id")
    stored = commands.add_parser("secrets", help="the tenants' secrets, one per use (D33)")
    secret_actions = stored.add_subparsers(dest="action", required=True)
    migrate = secret_actions.add_parser("migrate", help="split each tenant's single legacy secret by use")
    migrate.add_argument("tenant_id", nargs="*", help="default: every tenant")
    migrate.add_argument("--delete-legacy", action="store_true", help="then delete it (recoverable for 7 days)")


def parser(commands: Sequence[str]) -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="loyalty-hub", description="loyalty-hub tenant administration")
    where = cli.add_mutually_exclusive_group()
    where.add_argument("--stack", help="a deployed stack's name (e.g. loyalty-hub-prod)")
    where.add_argument("--local", action="store_true", help="the local stack started by 'make run'")
    cli.add_argument("--state", type=Path, default=LOCAL_STATE, help="the local stack's state file (with --local)")
    cli.add_argument("--json", action="store_true", help="one JSON document on stdout")
    sub = cli.add_subparsers(dest="command", required=True)
    _tenant_commands(sub)
    _vendor_commands(sub)
    _record_commands(sub)
    missing = set(commands) ^ set(sub.choices)
    if missing:
        raise RuntimeError(f"commands without a parser or a handler: {sorted(missing)}")
    return cli
