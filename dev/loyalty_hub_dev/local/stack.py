"""The whole bundle on one machine, without Docker or an AWS account, built from template.yaml.

- AWS services: moto's server on 127.0.0.1; tables (keys, GSIs, streams), buckets and queues (with
  their redrive policies) are created from the template's resources.
- Functions: imported in this process with the environment the template gives them (Globals and their
  own variables, intrinsics resolved to the local names).
- API Gateway: every `Api` event of every function served on http://127.0.0.1:<port> as REST proxy
  events (no stage prefix, like `sam local start-api`).
- SQS event sources: one poller per `SQS` event, with its batch size; a batch's reported failures
  (or an exception) leave those messages for redelivery, and SQS's own redrive moves them to the DLQ.
- Schedules: every `ScheduleV2` event fires its function with the schedule's Input at its `rate(...)`,
  and on demand through the control server (`POST /schedules/<function>`), one run at a time.
"""

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer
from werkzeug.serving import BaseWSGIServer, make_server

from loyalty_hub_dev.local import template
from loyalty_hub_dev.local.apigw import ApiGatewayWsgi, Route
from loyalty_hub_dev.local.console import check_ports
from loyalty_hub_dev.local.functions import Function, load_functions
from loyalty_hub_dev.local.resources import create_resources
from loyalty_hub_dev.local.sources import REGION, Schedule, poll_sqs, poll_stream
from loyalty_hub_dev.local.trace import CallTrace
from loyalty_hub_dev.sandboxes.custobar import CustobarSandbox
from loyalty_hub_dev.sandboxes.orderingstack import OrderingStackSandbox
from loyalty_hub_dev.sandboxes.storyous import AUTHORIZE_PATH, StoryousSandbox
from loyalty_hub_dev.sandboxes.voyado import VoyadoSandbox

HOST = "127.0.0.1"  # every local server binds loopback only
# The sandboxes' credentials: local only, printed by make run.
CUSTOBAR_TOKEN = "local-custobar-token"  # noqa: S105
VOYADO_API_KEY = "local-voyado-key"
ORDERINGSTACK_CLIENT = ("loyalty-hub", "local-orderingstack-secret")
ORDERINGSTACK_TENANT = "demo-tenant"
STORYOUS_CLIENT = ("loyalty-hub-local", "local-storyous-secret")


@dataclass
class LocalStack:
    api_port: int = 3000
    aws_port: int = 4566
    custobar_port: int = 3101
    voyado_port: int = 3102
    orderingstack_port: int = 3103
    storyous_port: int = 3104
    control_port: int = 3100
    stage: str = "dev"
    prefix: str = "loyalty-hub-local"
    trace_calls: Path | None = None  # every AWS call of every function, to this file (local/trace.py)
    console: bool = False  # one line per invocation; functions' output to their log files (local/console.py)
    names: dict[str, str] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _aws: ThreadedMotoServer | None = None
    _api: BaseWSGIServer | None = None
    _sandboxes: list[BaseWSGIServer] = field(default_factory=list)
    schedules: dict[str, "Schedule"] = field(default_factory=dict)
    custobar: CustobarSandbox = field(default_factory=lambda: CustobarSandbox(token=CUSTOBAR_TOKEN))
    voyado: VoyadoSandbox = field(default_factory=lambda: VoyadoSandbox(api_key=VOYADO_API_KEY))
    orderingstack: OrderingStackSandbox = field(
        default_factory=lambda: OrderingStackSandbox(
            client_id=ORDERINGSTACK_CLIENT[0], client_secret=ORDERINGSTACK_CLIENT[1], tenant=ORDERINGSTACK_TENANT
        )
    )
    storyous: StoryousSandbox = field(
        default_factory=lambda: StoryousSandbox(client_id=STORYOUS_CLIENT[0], client_secret=STORYOUS_CLIENT[1])
    )

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def custobar_url(self) -> str:
        return f"http://{HOST}:{self.custobar_port}"

    @property
    def voyado_url(self) -> str:
        return f"http://{HOST}:{self.voyado_port}"

    @property
    def orderingstack_url(self) -> str:
        return f"http://{HOST}:{self.orderingstack_port}"

    @property
    def storyous_url(self) -> str:
        return f"http://{HOST}:{self.storyous_port}"

    @property
    def control_url(self) -> str:
        return f"http://{HOST}:{self.control_port}"

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "LocalStack":
        check_ports(
            [
                ("AWS, moto", self.aws_port, "--aws-port"),
                ("the API", self.api_port, "--api-port"),
                ("Custobar sandbox", self.custobar_port, "--custobar-port"),
                ("Voyado sandbox", self.voyado_port, "--voyado-port"),
                ("OrderingStack sandbox", self.orderingstack_port, "--orderingstack-port"),
                ("Storyous sandbox", self.storyous_port, "--storyous-port"),
                ("schedule control", self.control_port, "--control-port"),
            ],
            HOST,
        )
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log: one line per queue poll
        self._aws = ThreadedMotoServer(ip_address=HOST, port=self.aws_port, verbose=False)
        self._aws.start()
        # moto accepts any credentials; these keep a developer's real ones out of the local stack.
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        resolver = self._create_resources()
        if self.trace_calls is not None:
            CallTrace(self.trace_calls, resolver.describe())
        self.functions, self.schedules = load_functions(resolver, console=self.console)
        api = ApiGatewayWsgi(self._routes(), stage=self.stage, access_log=True)
        self._api = make_server(HOST, self.api_port, api, threaded=True)
        self._spawn(self._api.serve_forever, "api")
        for port, app, name in (
            (self.custobar_port, self.custobar, "custobar"),
            (self.voyado_port, self.voyado, "voyado"),
            (self.orderingstack_port, self.orderingstack, "orderingstack"),
            (self.storyous_port, self.storyous, "storyous"),
            (self.control_port, self._control, "control"),
        ):
            sandbox = make_server(HOST, port, app, threaded=True)
            self._sandboxes.append(sandbox)
            self._spawn(sandbox.serve_forever, f"{name}-sandbox")
        for function in self.functions.values():
            for name, event in function.events.items():
                source = event["Properties"]
                if event["Type"] == "DynamoDB":
                    table = self.names[source["Stream"]["Fn::GetAtt"][0]]
                    self._spawn(
                        partial(poll_stream, function, table, source, self._stopping), f"{function.logical_id}.{name}"
                    )
                if event["Type"] == "SQS":
                    url = self.names[source["Queue"]["Fn::GetAtt"][0]]
                    self._spawn(
                        partial(poll_sqs, function, url, source, self._stopping), f"{function.logical_id}.{name}"
                    )
        for schedule in self.schedules.values():
            if schedule.every_seconds is not None:
                self._spawn(partial(self._tick, schedule), f"{schedule.function}.schedule")
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._api is not None:
            self._api.shutdown()
        for sandbox in self._sandboxes:
            sandbox.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._aws is not None:
            self._aws.stop()

    def state(self) -> dict[str, Any]:
        """What the admin command needs to reach this stack (written to .local/stack.json)."""
        env = self.functions["WebhookFunction"].environment
        return {
            "endpoint_url": self.endpoint_url,
            "api_url": self.api_url,
            "tenants_table": env["TENANTS_TABLE"],
            "secrets_prefix": env["SECRETS_PREFIX"],
            "raw_bucket": env["RAW_BUCKET"],
            "ingest_queue_url": env["INGEST_QUEUE_URL"],
            "sync_state_table": self.functions["StoryousPullFunction"].environment["SYNC_STATE_TABLE"],
            "quarantine_table": self.functions["IngestFunction"].environment["QUARANTINE_TABLE"],
            "customers_table": self.functions["IngestFunction"].environment["CUSTOMERS_TABLE"],
            "entities_table": self.functions["IngestFunction"].environment["ENTITIES_TABLE"],
            "vendor_ledger_table": self.functions["OrderingStackFunction"].environment["VENDOR_LEDGER_TABLE"],
            "vendor_queues": json.loads(self.functions["CaptureFunction"].environment["VENDOR_QUEUES"]),
            "custobar_url": self.custobar_url,
            "voyado_url": self.voyado_url,
            "orderingstack_url": self.orderingstack_url,
            "storyous_url": self.storyous_url,
            "control_url": self.control_url,
        }

    def write_state(self, path: Path) -> None:
        """Written whole or not at all: its appearance tells other processes the stack is up."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(self.state(), indent=2) + "\n")
        partial.replace(path)

    # ------------------------------------------------------------ resources
    def attach(self) -> "LocalStack":
        """Loads the functions against a local stack that already runs (for `make invoke`)."""
        os.environ.update({"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_DEFAULT_REGION": REGION})
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        self.functions, self.schedules = load_functions(self._create_resources(create=False))
        return self

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        if logical_id not in self.functions:
            raise KeyError(f"no function {logical_id} in template.yaml; there are: {', '.join(self.functions)}")
        function = self.functions[logical_id]
        return function.handler(event, function.context())

    def _create_resources(self, *, create: bool = True) -> template.Resolver:
        parameters = {
            "Stage": self.stage,
            "StoryousApiUrl": self.storyous_url,
            "StoryousAuthUrl": f"{self.storyous_url}{AUTHORIZE_PATH}",
        }
        return create_resources(self.names, self.prefix, parameters, create=create)

    def _routes(self) -> list[Route]:
        return [
            Route(
                event["Properties"]["Method"].upper(),
                event["Properties"]["Path"],
                function.handler,
                function.logical_id,
            )
            for function in self.functions.values()
            for event in function.events.values()
            if event["Type"] == "Api"
        ]

    def fire(self, logical_id: str) -> Any:
        """Runs a scheduled function now with its schedule's input, as Scheduler would; one run at a time."""
        if logical_id not in self.schedules:
            raise KeyError(f"no schedule on {logical_id}; scheduled functions: {', '.join(self.schedules) or 'none'}")
        schedule = self.schedules[logical_id]
        with schedule.lock:
            function = self.functions[logical_id]
            result = function.handler(dict(schedule.input), function.context())
            schedule.runs += 1
            schedule.last_result = result
        return result

    def _tick(self, schedule: "Schedule") -> None:
        assert schedule.every_seconds is not None
        while not self._stopping.wait(schedule.every_seconds):
            try:
                self.fire(schedule.function)
            except Exception:
                logging.getLogger(__name__).exception("scheduled run of %s failed", schedule.function)

    def _control(self, environ: dict[str, Any], start_response: Any) -> Any:
        """GET /schedules lists them; POST /schedules/<function> runs one now and answers its result."""
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        status = "404 Not Found"
        body: dict[str, Any] = {"message": "GET /schedules, or POST /schedules/<function logical id>"}
        if method == "GET" and path == "/schedules":
            status, body = "200 OK", {"schedules": [s.describe() for s in self.schedules.values()]}
        elif method == "POST" and path.startswith("/schedules/"):
            function = path.removeprefix("/schedules/")
            try:
                status, body = "200 OK", {"function": function, "result": self.fire(function)}
            except KeyError as exc:
                body = {"message": exc.args[0]}
            except Exception as exc:  # the run's own log lines say more
                status, body = "500 Internal Server Error", {"message": f"{type(exc).__name__}: {exc}"}
        payload = json.dumps(body, default=str).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
