"""The template's functions, loaded as Lambda would run them in one process: each with its environment
(the Globals merged with its own), its timeout, its events, and its handler imported on first use."""

import importlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loyalty_hub_dev.local import template
from loyalty_hub_dev.local.apigw import LambdaContext
from loyalty_hub_dev.local.console import invoked
from loyalty_hub_dev.local.sources import Schedule

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class Function:
    logical_id: str
    handler: Handler
    environment: dict[str, str]
    events: dict[str, dict[str, Any]]
    timeout_seconds: int = 3

    def context(self) -> LambdaContext:
        """A context whose remaining time is the function's Timeout, which budgeted jobs plan by."""
        return LambdaContext(self.logical_id, deadline_ms=int(time.time() * 1000) + self.timeout_seconds * 1000)


def load_functions(
    resolver: template.Resolver, *, console: bool = False
) -> tuple[dict[str, Function], dict[str, Schedule]]:
    """Every function of the template, and the schedules that fire them; sets the shared environment."""
    functions: dict[str, Function] = {}
    schedules: dict[str, Schedule] = {}
    global_env = template.template()["Globals"]["Function"].get("Environment", {}).get("Variables", {})
    global_timeout = template.template()["Globals"]["Function"].get("Timeout", 3)
    merged: dict[str, str] = {}
    for logical_id, res in template.resources("AWS::Serverless::Function").items():
        props = res["Properties"]
        own = props.get("Environment", {}).get("Variables", {})
        environment = {k: str(v) for k, v in resolver({**global_env, **own}).items()}
        for key, value in environment.items():
            if merged.setdefault(key, value) != value:  # one process: one value per variable
                raise RuntimeError(f"{key} differs between functions; the local stack cannot host both")
        module_name, attribute = props["Handler"].rsplit(".", 1)
        handler = _lazy(f"{props['CodeUri'].replace('/', '.')}.{module_name}", attribute)
        # Known by name while it runs: its output is routed and its AWS calls traced by that.
        handler = invoked(logical_id, handler, report=console)
        functions[logical_id] = Function(
            logical_id,
            handler,
            environment,
            props.get("Events", {}),
            int(props.get("Timeout", global_timeout)),
        )
        for event in props.get("Events", {}).values():
            if event["Type"] == "ScheduleV2":
                schedules[logical_id] = Schedule.from_event(logical_id, resolver(event["Properties"]))
    os.environ.update(merged)
    # Locally, an admin change takes effect at once (deployed functions cache tenants and secrets).
    os.environ.update({"TENANT_CACHE_SECONDS": "0", "SECRET_CACHE_SECONDS": "0"})
    return functions, schedules


def _lazy(module: str, attribute: str) -> Handler:
    """Imports a function's module on first use, after the environment is in place."""
    loaded: dict[str, Handler] = {}

    def invoke(event: dict[str, Any], context: Any) -> Any:
        if "handler" not in loaded:
            loaded["handler"] = getattr(importlib.import_module(module), attribute)
        return loaded["handler"](event, context)

    return invoke
