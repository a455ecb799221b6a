"""The collector is off while a delivery is applied, and left as it was found after, failure or not."""

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from loyalty_hub import collector
from loyalty_hub.logic import ingest
from tests.support.deliveries import archive, bill
from tests.support.stack import MERCHANT, PLACE, Stack

pytestmark = pytest.mark.usefixtures("tenant")


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


def delivery(stack: Stack) -> Any:
    return archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", [bill("B1", "C1", 10, "2024-07-01T10:00:00+02:00",
                                                                      "2024-07-01T10:00:01+02:00")])  # fmt: skip


@pytest.mark.parametrize("fails", [False, True])
def test_a_delivery_is_applied_with_the_collector_off_then_on_again(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    seen: list[bool] = []
    real = ingest.apply_bills

    def observed(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        if fails:
            raise RuntimeError("a bug half way")
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, "apply_bills", observed)
    gc.enable()
    if fails:
        with pytest.raises(RuntimeError):
            ingest.ingest_delivery(ingest.default_deps(), delivery(stack))
    else:
        assert ingest.ingest_delivery(ingest.default_deps(), delivery(stack)).written == 1
    assert seen == [False] and gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    with collector.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
