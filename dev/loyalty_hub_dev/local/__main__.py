"""`make run`: the local stack with a demo tenant, a replayed delivery, and what to try next."""

import argparse
import json
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from loyalty_hub_dev.admin import LOCAL_STATE, Admin, Target
from loyalty_hub_dev.local.client import http_json, wait_for
from loyalty_hub_dev.local.console import PortInUse, install
from loyalty_hub_dev.local.stack import (
    CUSTOBAR_TOKEN,
    ORDERINGSTACK_CLIENT,
    ORDERINGSTACK_TENANT,
    STORYOUS_CLIENT,
    VOYADO_API_KEY,
    LocalStack,
)
from loyalty_hub_dev.local.template import ROOT

DEMO_MERCHANT = "60b6512e66943300381c2d24"
LOGS = Path(".local/logs")
DEMO_PLACE = "60b6512e66943300381c2d25"
DEMO_CUSTOMER = "M4E6D346F7257504B"
DEMO_EMAIL = "alena@example.cz"
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - a local demo's, printed on purpose
# The key the sample events in events/customer_api/ carry, so they work against this stack too.
DEMO_KEY = "60b6512e66943300381c2d24.ZGVtby1rZXktZm9yLWxvY2FsLXVzZS1vbmx5LTAwMDAwMA"


def demo(stack: LocalStack, state: Path) -> None:
    # Imported here: the functions' observability objects read POWERTOOLS_* set by the stack at start.
    from loyalty_hub.vendors.orderingstack import account_id  # noqa: PLC0415

    admin = Admin(Target.from_local(state))
    admin.create_tenant(DEMO_MERCHANT, "Demo Café", "Europe/Prague", "CZ", {DEMO_PLACE: "Náměstí"})
    admin.set_webhook_secret(DEMO_MERCHANT, DEMO_WEBHOOK_SECRET)
    admin.set_storyous_client(DEMO_MERCHANT, *STORYOUS_CLIENT)
    admin.add_dailystory_key(DEMO_MERCHANT, DEMO_KEY)
    admin.enable_custobar(
        DEMO_MERCHANT,
        base_url=stack.custobar_url,
        auth="Token",
        field_prefix="demo",
        credentials={"custobar_token": CUSTOBAR_TOKEN},
    )
    admin.enable_voyado(DEMO_MERCHANT, base_url=stack.voyado_url, api_key=VOYADO_API_KEY)
    admin.enable_orderingstack(
        DEMO_MERCHANT,
        base_url=stack.orderingstack_url,
        os_tenant=ORDERINGSTACK_TENANT,
        grant="client_credentials",
        credentials={
            "orderingstack_client_id": ORDERINGSTACK_CLIENT[0],
            "orderingstack_client_secret": ORDERINGSTACK_CLIENT[1],
        },
    )
    stack.voyado.add_contact(DEMO_EMAIL, bonus_points=322, member_level="Gold")
    stack.orderingstack.add_account(account_id(DEMO_CUSTOMER), points=40)
    body = json.loads((ROOT / "events/webhook/bills-post.json").read_text())["body"].encode()
    webhook = f"{stack.api_url}/webhooks/storyous/{DEMO_MERCHANT}/{DEMO_PLACE}"
    status, answer = http_json(
        "POST", webhook, body, {"Authorization": DEMO_WEBHOOK_SECRET, "Content-Type": "application/json"}
    )
    print(f"replayed events/webhook/bills-post.json -> {status} {answer}")
    customers = f"{stack.api_url}/api/v1/customers"
    auth = {"Authorization": f"Bearer {DEMO_KEY}"}
    if not wait_for(lambda: http_json("GET", customers, headers=auth)[1].get("count", 0) > 0, timeout=30):
        print("the delivery was not ingested within 30 s: see the IngestFunction log lines above", file=sys.stderr)
    _, page = http_json("GET", customers, headers=auth)
    print(f"DailyStory API sees {page.get('count')} customers")
    received = f"{stack.custobar_url}/_sandbox/received"
    if not wait_for(lambda: len(http_json("GET", received)[1]["customers"]) > 0, timeout=30):
        print("nothing reached the Custobar sandbox within 30 s: see the Capture/Custobar log lines", file=sys.stderr)
    print(f"Custobar sandbox holds {len(http_json('GET', received)[1]['customers'])} customers")
    loyalty = {
        "dataDomain": "Loyalty",
        "data": [
            {
                "customerId": DEMO_CUSTOMER,
                "firstName": "Alena",
                "email": DEMO_EMAIL,
                "consents": {"email": True},
                "_lastModifiedAt": "2024-07-12T09:00:00Z",
            }
        ],
    }
    http_json("POST", webhook, json.dumps(loyalty).encode(), {"Authorization": DEMO_WEBHOOK_SECRET})
    one = f"{stack.api_url}/api/v1/customer/{DEMO_CUSTOMER}"
    if wait_for(lambda: http_json("GET", one, headers=auth)[1].get("points") == 322, timeout=30):
        print("Voyado enrichment arrived: the demo customer has 322 points (Voyado's, over OrderingStack's 40)")
    events = http_json("GET", f"{stack.orderingstack_url}/_sandbox/received")[1]["events"]
    print(f"OrderingStack sandbox holds {len(events)} purchase events")
    pull_a_missed_bill(stack, one, auth, body)
    print(
        f"""
loyalty-hub is running (Ctrl-C stops it)
  API                 {stack.api_url}   (webhook, DailyStory API, {stack.api_url}/api/v1/openapi.json)
  AWS (moto)          {stack.endpoint_url}
  Custobar sandbox    {stack.custobar_url}   (what it received: {stack.custobar_url}/_sandbox/received)
  Voyado sandbox      {stack.voyado_url}   ({stack.voyado_url}/_sandbox/received)
  OrderingStack       {stack.orderingstack_url}   ({stack.orderingstack_url}/_sandbox/received)
  Storyous API        {stack.storyous_url}   (pulled by StoryousPullFunction; {stack.storyous_url}/_sandbox/received)
  schedules           {stack.control_url}/schedules   (fire one now: make fire FN=StoryousPullFunction)
  demo tenant         {DEMO_MERCHANT}, place {DEMO_PLACE}
  webhook secret      {DEMO_WEBHOOK_SECRET}
  DailyStory key      {DEMO_KEY}

  curl -s -H 'Authorization: Bearer {DEMO_KEY}' '{customers}?limit=5'
  curl -s -H 'Authorization: Bearer {DEMO_KEY}' {stack.api_url}/api/v1/customer/M4E6D346F7257504B
  curl -s -X POST -H 'Authorization: {DEMO_WEBHOOK_SECRET}' -H 'Content-Type: application/json' \\
       --data @your-delivery.json {webhook}
  curl -s {stack.custobar_url}/_sandbox/received
  make admin ARGS="--local show {DEMO_MERCHANT}"
"""
    )


def pull_a_missed_bill(stack: LocalStack, one: str, auth: dict[str, str], delivered: bytes) -> None:
    """Storyous holds a bill whose webhook never came: the scheduled pull, fired now, brings it in."""
    bills = json.loads(delivered)["data"]
    for bill in bills:  # what Storyous holds of the delivery above; older than the pull's back-fill window
        stack.storyous.put_bill(DEMO_MERCHANT, DEMO_PLACE, bill)
    recent = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    missed = {**bills[0], "billId": "TM-MISSED-1", "paidAt": recent, "createdAt": recent, "_lastModifiedAt": recent}
    stack.storyous.put_bill(DEMO_MERCHANT, DEMO_PLACE, missed)
    before = http_json("GET", one, headers=auth)[1].get("total_orders", 0)
    report = stack.fire("StoryousPullFunction")
    print(f"fired the Storyous pull: {report['bills_queued']} bill(s) queued that no webhook delivered")
    if wait_for(lambda: http_json("GET", one, headers=auth)[1].get("total_orders", 0) > before, timeout=30):
        print(f"the demo customer now has {http_json('GET', one, headers=auth)[1]['total_orders']} orders")
    else:
        print("the pulled bill was not ingested within 30 s: see the IngestFunction log lines", file=sys.stderr)


def main() -> int:
    cli = argparse.ArgumentParser(prog="make run", description=__doc__)
    cli.add_argument("--api-port", type=int, default=3000)
    cli.add_argument("--aws-port", type=int, default=4566)
    cli.add_argument("--custobar-port", type=int, default=3101)
    cli.add_argument("--voyado-port", type=int, default=3102)
    cli.add_argument("--orderingstack-port", type=int, default=3103)
    cli.add_argument("--storyous-port", type=int, default=3104)
    cli.add_argument("--control-port", type=int, default=3100, help="GET /schedules, POST /schedules/<function>")
    cli.add_argument("--no-demo", action="store_true", help="start empty: no tenant, no replayed delivery")
    cli.add_argument("--state", type=Path, default=LOCAL_STATE, help="where to write the endpoints and names")
    cli.add_argument("--trace-calls", type=Path, help="write every AWS call of every function to this JSONL file")
    cli.add_argument("--logs", type=Path, default=LOGS, help="each function's log lines and metrics: <dir>/<fn>.jsonl")
    cli.add_argument(
        "--verbose", action="store_true", help="print the functions' log lines too, each with its function"
    )
    args = cli.parse_args()
    install(args.logs, verbose=args.verbose)
    try:
        stack = start(args)
    except PortInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stack.write_state(args.state)
    print(f"the local stack keeps its state in memory: a restart starts empty. Logs: {args.logs}/<function>.jsonl")
    _serve(stack, args)
    return 0


def start(args: argparse.Namespace) -> LocalStack:
    return LocalStack(
        api_port=args.api_port,
        aws_port=args.aws_port,
        custobar_port=args.custobar_port,
        voyado_port=args.voyado_port,
        orderingstack_port=args.orderingstack_port,
        storyous_port=args.storyous_port,
        control_port=args.control_port,
        trace_calls=args.trace_calls,
        console=True,
    ).start()


def _serve(stack: LocalStack, args: argparse.Namespace) -> None:
    stopped = False

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            args.state.unlink(missing_ok=True)
            print("\nstopping the local stack", file=sys.stderr)
            stack.stop()
        sys.exit(128 + signum if signum != signal.SIGINT else 0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if not args.no_demo:
        demo(stack, args.state)
    print(f"ready: {stack.api_url}", flush=True)
    signal.pause()


if __name__ == "__main__":
    sys.exit(main())
