"""Part 3: Voyado lookups through 4 concurrent workers against the sandbox bridge.

The sandbox enforces the shop's leaky bucket (60) and the workers pace themselves with the shared token
bucket in DynamoDB (moto). Two runs: 600 lookups 5x faster than the real 1 per second (~2 min instead
of ~9), and 120 at real speed with 20 ms of network latency before each request reaches the bridge.
Capacity used = accepted lookups / (bucket size + drip rate x the time from the first to the last);
pacing's own cost is the DynamoDB requests of the token bucket per lookup.
"""

import threading
import time
from typing import Any

from moto import mock_aws

from loyalty_hub import aws
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.models.vendors import VoyadoSettings
from loyalty_hub.remote.errors import RetryableError
from loyalty_hub.vendors.voyado import Voyado, shop_bucket
from loyalty_hub_dev.sandboxes.voyado import VoyadoSandbox
from tests.support.stack import create_stack
from tests.support.wsgi_transport import session_for

WORKERS = 4
RUNS = ((600, 5.0, 0.0), (120, 1.0, 0.020))  # lookups, speed-up over the bridge's 1/s, network latency (s)


class AtomicItems:
    """moto evaluates a conditional write and applies it without a lock, so two threads can both pass
    one condition; DynamoDB applies each item write atomically. This proxy restores that for the run."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.requests = 0

    def get_item(self, **kwargs: Any) -> Any:
        with self._lock:
            self.requests += 1
            return self._client.get_item(**kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        with self._lock:
            self.requests += 1
            return self._client.put_item(**kwargs)


BUCKET = 60


def _delayed(app: Any, latency: float) -> Any:
    """The bridge, reached `latency` seconds after the request left (a token taken is spent later)."""

    def delayed(environ: dict[str, Any], start_response: Any) -> Any:
        time.sleep(latency)
        return app(environ, start_response)

    return delayed


def main() -> None:
    for lookups, scale, latency in RUNS:
        run(lookups, scale, latency)


def run(lookups: int, scale: float, latency: float) -> None:
    drip = 1.0 * scale
    print(
        f"== Voyado pacing: {lookups} lookups, {WORKERS} concurrent workers, bucket {BUCKET}, "
        f"drip {drip:.0f}/s ({scale:.0f}x the bridge's 1/s), network latency {latency * 1000:.0f} ms"
    )
    LOOKUPS, DRIP = lookups, drip
    sandbox = VoyadoSandbox(api_key="k", bucket_size=BUCKET, drip_per_second=DRIP, clock=time.time)
    emails = [f"member{i}@example.cz" for i in range(LOOKUPS)]
    for email in emails:
        sandbox.add_contact(email, bonus_points=1)
    settings = VoyadoSettings(
        base_url="https://live.voyado.eastsideapps.io", bucket_size=BUCKET, refill_per_second=DRIP
    )
    delays = {"count": 0}
    with mock_aws():
        stack = create_stack()
        client = aws.client("dynamodb")
        atomic = AtomicItems(client)

        def worker(share: list[str]) -> None:
            http = session_for(_delayed(sandbox, latency))
            vendor = Voyado(
                TenantStore(stack.tenants_table, client=client),
                CustomerStore(client, stack.customers_table),
                lambda *_: bucket,
                lambda _: None,
                lambda _: {},
                session=http,
            )
            bucket = shop_bucket(atomic, stack.rate_limit_table, "bench", settings, clock=time.time)
            atomic.get_item(TableName=stack.rate_limit_table, Key={"pk": {"S": "warm-up"}})
            warm_up = "https://live.voyado.eastsideapps.io/_sandbox/received"  # not in the bucket
            http.request("GET", warm_up, body=None, headers={})
            start.wait()  # clients built: all workers begin together, as warm invocations would
            for email in share:
                while True:
                    try:
                        vendor._pace(bucket, lambda: float("inf"))
                        vendor._lookup(settings, "k", {"email": email})
                        break
                    except RetryableError as error:  # the message would come back after retry_after
                        delays["count"] += 1
                        time.sleep(error.retry_after or 0.05)

        start = threading.Barrier(WORKERS)
        threads = [threading.Thread(target=worker, args=(emails[i::WORKERS],)) for i in range(WORKERS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        aws.reset()
    window = (sandbox.last_at or 0) - (sandbox.first_at or 0)
    capacity = BUCKET + DRIP * window
    print(
        f"accepted {sandbox.accepted}, 429s {sandbox.throttled} (target 0), messages delayed by pacing "
        f"{delays['count']}, {elapsed:.1f} s"
    )
    print(f"bucket capacity used: {sandbox.accepted / capacity:.1%} (target >= 90 %)")
    pacing = atomic.requests - WORKERS  # less the warm-up reads
    print(f"pacing's own cost: {pacing / max(1, sandbox.accepted):.1f} DynamoDB requests per lookup")
