"""The one-off metric helper: its dimensions, and POWERTOOLS_METRICS_DISABLED, which Powertools'
single_metric alone would ignore (a bench or a local run would print every metric line)."""

import json

import pytest

from loyalty_hub.observability import metric


def test_a_metric_carries_its_dimensions_and_leaves_empty_ones_out(capsys: pytest.CaptureFixture[str]) -> None:
    metric("Sent", 3, vendor="custobar", tenant="")
    blob = json.loads(capsys.readouterr().out)
    assert blob["Sent"] == [3.0] and blob["vendor"] == "custobar" and "tenant" not in blob


def test_disabled_metrics_print_nothing(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metric("Sent", 3, vendor="custobar")
    assert capsys.readouterr().out == ""
