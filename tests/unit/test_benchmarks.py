"""`make bench` at toy sizes: every part still runs and prints its figures (a bench that broke with a
change would otherwise be found only by the next full run). The figures themselves are not checked here:
at these sizes they mean nothing. Cold start (a layer build) and latency (a local stack) are left to
`make bench`."""

from typing import Any

import pytest

from benchmarks import (
    bench_customer_api,
    bench_first_page,
    bench_ingest,
    bench_ledger,
    bench_poison,
    bench_vendor_batch,
    bench_voyado,
    bench_voyado_lookups,
)


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "bench")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "bench")


def printed(capsys: pytest.CaptureFixture[str], bench: Any) -> str:
    bench.main()
    return capsys.readouterr().out


def test_ingest_and_poison(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for module in (bench_ingest, bench_poison):
        monkeypatch.setattr(module, "BILLS", 200)
        monkeypatch.setattr(module, "CUSTOMERS", 20)
    for module, name in ((bench_poison, "PAIRS"), (bench_ingest, "PAIRS"), (bench_ingest, "BOTOCORE_PAIRS")):
        monkeypatch.setattr(module, name, 1)  # the figures are make bench's; here, that every line is printed
    out = printed(capsys, bench_ingest) + printed(capsys, bench_poison)
    for line in ("requests / lower bound:", "the same delivery again (duplicate): 1 requests", "capacity units",
                 "CPU ours / baseline:", "fastest run of each:", "of which the collector paused",
                 "CPU with botocore clients", "cost with 1 % poison / clean:"):  # fmt: skip
        assert line in out


def test_dailystory(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench_customer_api, "CUSTOMERS", 120)
    monkeypatch.setattr(bench_first_page, "CUSTOMERS", 25_000)
    monkeypatch.setattr(bench_first_page, "RUNS", 1)
    out = printed(capsys, bench_customer_api)
    assert "customer items read / customers: 1.00" in out and "snapshot ids parsed from S3" in out
    assert "DailyStory first page at 25,000 customers" in out


def test_voyado(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench_voyado, "RUNS", ((8, 50.0, 0.0), (4, 50.0, 0.001)))
    monkeypatch.setattr(bench_voyado_lookups, "DELIVERIES", 15)
    out = printed(capsys, bench_voyado) + printed(capsys, bench_voyado_lookups)
    assert "accepted 8, 429s 0" in out and "accepted 4, 429s 0" in out  # every lookup made, none refused
    assert "pacing's own cost" in out and "lookups per identifier change" in out


def test_ledger(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench_ledger, "SMALL", 20)
    monkeypatch.setattr(bench_ledger, "BIG", 150)
    monkeypatch.setattr(bench_ledger, "SEED_DELIVERY", 100)
    monkeypatch.setattr(bench_ledger, "PAIRS", 2)
    out = printed(capsys, bench_ledger)
    assert "BIG has total_orders 150" in out
    assert "big / small: requests 1.00, capacity units 1.00" in out  # adding a bill costs the same


def test_vendor_batch(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench_vendor_batch, "BATCHES", (30,))
    out = printed(capsys, bench_vendor_batch)
    assert "30 customers: 5 requests before, 7 after (+BatchWriteItem 2; bound ceil(30/25) = 2)" in out
