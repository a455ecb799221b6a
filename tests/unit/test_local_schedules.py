"""The local stack's schedules: read from template.yaml, timed by their rate, fired on demand, one run at a time."""

import threading
import time
from typing import Any

import pytest
from werkzeug.test import Client

from loyalty_hub_dev.local import template
from loyalty_hub_dev.local.functions import Function
from loyalty_hub_dev.local.sources import Schedule, rate_seconds
from loyalty_hub_dev.local.stack import LocalStack


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(15 minutes)", 900), ("rate(2 hours)", 7200), ("rate(1 day)", 86400)],
)
def test_rates_are_read_as_scheduler_writes_them(expression: str, seconds: int) -> None:
    assert rate_seconds(expression) == seconds


def test_cron_is_fired_on_demand_only_and_nonsense_is_refused() -> None:
    assert rate_seconds("cron(0 3 * * ? *)") is None
    for bad in ("rate(0 minutes)", "rate(five minutes)", "rate(1 fortnight)"):
        with pytest.raises(ValueError, match="not a Scheduler rate"):
            rate_seconds(bad)


def test_every_template_schedule_has_a_rate_the_local_stack_can_time() -> None:
    defaults = template.parameter_defaults()
    for resource in template.resources("AWS::Serverless::Function").values():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "ScheduleV2":
                assert rate_seconds(defaults[event["Properties"]["ScheduleExpression"]["Ref"]])


def recording_stack(every: float | None, gate: threading.Event | None = None) -> tuple[LocalStack, list[Any]]:
    calls: list[Any] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append((event, context.get_remaining_time_in_millis()))
        if gate is not None:
            gate.wait(5)
        return {"run": len(calls)}

    stack = LocalStack()
    stack.functions["JobFunction"] = Function("JobFunction", handler, {}, {}, timeout_seconds=300)
    stack.schedules["JobFunction"] = Schedule("JobFunction", "rate(1 minute)", {"job": "x"}, every)
    return stack, calls


def test_a_schedule_fires_at_its_rate_with_its_input_and_the_function_timeout() -> None:
    stack, calls = recording_stack(every=0.05)
    stack._spawn(lambda: stack._tick(stack.schedules["JobFunction"]), "tick")
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stack._stopping.set()
    assert len(calls) >= 3
    event, remaining_ms = calls[0]
    assert event == {"job": "x"} and 290_000 < remaining_ms <= 300_000


def test_the_control_server_lists_and_fires_schedules() -> None:
    stack, calls = recording_stack(every=None)
    control = Client(stack._control)
    listed = control.get("/schedules").json
    assert listed == {
        "schedules": [{"function": "JobFunction", "expression": "rate(1 minute)", "input": {"job": "x"}, "runs": 0,
                       "last_result": None}]
    }  # fmt: skip
    fired = control.post("/schedules/JobFunction")
    assert fired.status_code == 200 and fired.json == {"function": "JobFunction", "result": {"run": 1}}
    missing = control.post("/schedules/NoSuchFunction")
    assert missing.status_code == 404 and "scheduled functions: JobFunction" in missing.json["message"]
    assert len(calls) == 1


def test_a_run_on_demand_waits_for_the_timed_run_in_progress() -> None:
    gate = threading.Event()
    stack, calls = recording_stack(every=None, gate=gate)
    first = threading.Thread(target=stack.fire, args=("JobFunction",))
    first.start()
    time.sleep(0.05)
    second = threading.Thread(target=stack.fire, args=("JobFunction",))
    second.start()
    time.sleep(0.05)
    assert len(calls) == 1  # the second run has not started while the first is in progress
    gate.set()
    first.join(5)
    second.join(5)
    assert len(calls) == 2 and stack.schedules["JobFunction"].runs == 2
