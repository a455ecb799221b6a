"""Part 4: latency end to end in the local stack, from a webhook's 200 to the Custobar sandbox holding
the bill: webhook, archive, ingest queue, ingest, the customers table's stream, capture, the Custobar
queue, the worker, the sandbox.

The local stack runs as its own process (`python -m loyalty_hub_dev.local --no-demo`) with one tenant
and Custobar enabled; deliveries of one bill each are sent at a steady rate and the sandbox stamps each
sale when it arrives. The figures are the local stack's: its pollers wait up to 1 s on an empty SQS
queue and 0.5 s on an empty stream, as Lambda's event source mappings poll on their own schedule.
"""

import json
import signal
import statistics
import tempfile
import time
from pathlib import Path

from loyalty_hub_dev.admin import Admin, Target
from loyalty_hub_dev.local.client import http_json, wait_for
from loyalty_hub_dev.local.stack import CUSTOBAR_TOKEN
from tests.support.local import free_port, start_local_stack

# Under what the one-process local stack sustains here: since D50 (13 moto requests a one-bill delivery) it falls
# behind at 5/s and the figure becomes its queue (p50 15-30 s), at 3/s over 500 deliveries p50 3.2 s.
DELIVERIES, CUSTOMERS, RATE_PER_SECOND = 500, 50, 2
MERCHANT, PLACE = "LatencyBench1", "Place1"


def _delivery(number: int) -> bytes:
    bill = {
        "billId": f"L-{number}",
        "customerId": f"LC{number % CUSTOMERS}",
        "finalPrice": "10.00",
        "paidAt": "2024-07-12T10:00:00+02:00",
        "currencyCode": "CZK",
        "_lastModifiedAt": "2024-07-12T10:00:01Z",
        "items": [{"productId": "p:1", "amount": 1, "price": 10, "categoryId": "c:1"}],
    }
    return json.dumps({"dataDomain": "Bills", "data": [bill]}).encode()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    print(
        f"== latency end to end (local stack): {DELIVERIES} deliveries at {RATE_PER_SECOND}/s, webhook 200 -> Custobar"
    )
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "stack.json"
        names = ("api", "aws", "custobar", "voyado", "orderingstack", "storyous", "control")
        ports = {name: free_port() for name in names}
        process = start_local_stack(state, ports, "--no-demo", console=Path(tmp) / "console.txt")
        try:
            sent, arrived = _run(state, f"http://127.0.0.1:{ports['api']}", f"http://127.0.0.1:{ports['custobar']}")
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    latencies = [arrived[key] - sent[key] for key in sent if key in arrived]
    assert len(latencies) == DELIVERIES, f"{DELIVERIES - len(latencies)} bills never reached the sandbox"
    print(
        f"p50 {statistics.median(latencies):.2f} s, p99 {_percentile(latencies, 0.99):.2f} s, max "
        f"{max(latencies):.2f} s over {len(latencies)} deliveries"
    )


def _run(state: Path, api: str, custobar: str) -> tuple[dict[str, float], dict[str, float]]:
    admin = Admin(Target.from_local(state))
    admin.create_tenant(MERCHANT, "Latency Bench", "Europe/Prague", "CZ", {PLACE: "Square"})
    secret = admin.set_webhook_secret(MERCHANT, None)
    admin.enable_custobar(
        MERCHANT, base_url=custobar, auth="Token", field_prefix="lh", credentials={"custobar_token": CUSTOBAR_TOKEN}
    )
    webhook, sent = f"{api}/webhooks/storyous/{MERCHANT}/{PLACE}", {}
    began = time.monotonic()
    for number in range(DELIVERIES):
        time.sleep(max(0.0, began + number / RATE_PER_SECOND - time.monotonic()))  # a steady rate, not a burst
        status, _ = http_json("POST", webhook, _delivery(number), {"Authorization": secret})
        assert status == 200, status
        sent[f"sales/L-{number}-0"] = time.time()
    received = f"{custobar}/_sandbox/received"
    wait_for(lambda: len(sent.keys() & http_json("GET", received)[1]["arrived"].keys()) == DELIVERIES, timeout=120)
    return sent, http_json("GET", received)[1]["arrived"]
