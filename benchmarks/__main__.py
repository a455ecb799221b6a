"""`make bench`: every benchmark, each printing ratios measured in this one run."""

import os

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "loyalty-hub")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LoyaltyHub")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the figures, not the functions' logs
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # nor their metric blobs
for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(name, "bench")

from benchmarks import (  # noqa: E402 - after the environment it reads
    bench_cold_start,
    bench_customer_api,
    bench_ingest,
    bench_latency,
    bench_ledger,
    bench_poison,
    bench_vendor_batch,
    bench_voyado,
    bench_voyado_lookups,
)


def main() -> None:
    bench_cold_start.main()
    print()
    bench_ingest.main()
    print()
    bench_ledger.main()
    print()
    bench_poison.main()
    print()
    bench_customer_api.main()
    print()
    bench_vendor_batch.main()
    print()
    bench_voyado.main()
    print()
    bench_voyado_lookups.main()
    print()
    bench_latency.main()


if __name__ == "__main__":
    main()
