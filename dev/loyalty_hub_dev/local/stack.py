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

import importlib
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

import boto3
from moto.server import ThreadedMotoServer
from werkzeug.serving import BaseWSGIServer, make_server

from loyalty_hub import aws
from loyalty_hub_dev.local import template
from loyalty_hub_dev.local.apigw import ApiGatewayWsgi, LambdaContext, Route
from loyalty_hub_dev.local.trace import CallTrace
from loyalty_hub_dev.sandboxes.custobar import CustobarSandbox
from loyalty_hub_dev.sandboxes.orderingstack import OrderingStackSandbox
from loyalty_hub_dev.sandboxes.storyous import AUTHORIZE_PATH, StoryousSandbox
from loyalty_hub_dev.sandboxes.voyado import VoyadoSandbox

Handler = Callable[[dict[str, Any], Any], Any]
HOST = "127.0.0.1"  # every local server binds loopback only
REGION: Final = "eu-central-1"
# The sandboxes' credentials: local only, printed by make run.
CUSTOBAR_TOKEN = "local-custobar-token"  # noqa: S105
VOYADO_API_KEY = "local-voyado-key"
ORDERINGSTACK_CLIENT = ("loyalty-hub", "local-orderingstack-secret")
ORDERINGSTACK_TENANT = "demo-tenant"
STORYOUS_CLIENT = ("loyalty-hub-local", "local-storyous-secret")
RETRY_AFTER_SECONDS = 2  # a failed message is visible again this soon (Lambda waits the visibility timeout)
MOTO_ACCOUNT = "123456789012"  # moto's default account


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
        self._load_functions(resolver)
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
                if event["Type"] == "DynamoDB":
                    self._spawn(
                        partial(self._poll_stream, function, event["Properties"]), f"{function.logical_id}.{name}"
                    )
                if event["Type"] == "SQS":
                    self._spawn(partial(self._poll_sqs, function, event["Properties"]), f"{function.logical_id}.{name}")
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
        self._load_functions(self._create_resources(create=False))
        return self

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        if logical_id not in self.functions:
            raise KeyError(f"no function {logical_id} in template.yaml; there are: {', '.join(self.functions)}")
        function = self.functions[logical_id]
        return function.handler(event, function.context())

    def _create_resources(self, *, create: bool = True) -> template.Resolver:
        attributes: dict[tuple[str, str], str] = {}
        aws.reset()
        ddb, s3, sqs = aws.client("dynamodb"), aws.client("s3"), aws.client("sqs")
        for logical_id in template.tables():
            name = self.names[logical_id] = f"{self.prefix}-{logical_id}"
            if create:
                ddb.create_table(**template.table_definition(logical_id, name))
            table = ddb.describe_table(TableName=name)["Table"]
            attributes[(logical_id, "Arn")] = table["TableArn"]
            if "LatestStreamArn" in table:
                attributes[(logical_id, "StreamArn")] = table["LatestStreamArn"]
        for logical_id in template.resources("AWS::S3::Bucket"):
            name = self.names[logical_id] = f"{self.prefix}-{logical_id}".lower()
            if create:
                s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
            attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
        queues = template.resources("AWS::SQS::Queue")
        # Dead-letter queues first: the queues that redrive to them need their ARNs.
        for logical_id in sorted(queues, key=lambda q: "RedrivePolicy" in queues[q]["Properties"]):
            props = queues[logical_id]["Properties"]
            fifo = bool(props.get("FifoQueue"))
            name = f"{self.prefix}-{logical_id}" + (".fifo" if fifo else "")
            attrs: dict[Any, str] = {"VisibilityTimeout": str(props.get("VisibilityTimeout", 30))}
            if fifo:
                attrs["FifoQueue"] = "true"
            if "RedrivePolicy" in props:
                dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
                attrs["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": attributes[(dlq, "Arn")],
                        "maxReceiveCount": props["RedrivePolicy"]["maxReceiveCount"],
                    }
                )
            if create:
                url = self.names[logical_id] = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
            else:
                url = self.names[logical_id] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            attributes.update({(logical_id, "Arn"): arn, (logical_id, "QueueName"): name})
        parameters = template.parameter_defaults() | {
            "Stage": self.stage,
            "StoryousApiUrl": self.storyous_url,
            "StoryousAuthUrl": f"{self.storyous_url}{AUTHORIZE_PATH}",
        }
        return template.Resolver(self.names, attributes, parameters)

    def _load_functions(self, resolver: template.Resolver) -> None:
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
            self.functions[logical_id] = Function(
                logical_id,
                CallTrace.wrap(logical_id, handler) if self.trace_calls is not None else handler,
                environment,
                props.get("Events", {}),
                int(props.get("Timeout", global_timeout)),
            )
            for event in props.get("Events", {}).values():
                if event["Type"] == "ScheduleV2":
                    self.schedules[logical_id] = Schedule.from_event(logical_id, resolver(event["Properties"]))
        os.environ.update(merged)
        # Locally, an admin change takes effect at once (deployed functions cache tenants and secrets).
        os.environ.update({"TENANT_CACHE_SECONDS": "0", "SECRET_CACHE_SECONDS": "0"})

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

    # ------------------------------------------------------------ event sources
    def _poll_sqs(self, function: Function, source: dict[str, Any]) -> None:
        sqs = boto3.client("sqs", region_name=REGION)
        queue_id = source["Queue"]["Fn::GetAtt"][0]
        url = self.names[queue_id]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        reports_failures = "ReportBatchItemFailures" in source.get("FunctionResponseTypes", [])
        while not self._stopping.is_set():
            received = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, int(source.get("BatchSize", 10))),
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                continue
            event = {"Records": [_sqs_record(m, arn) for m in received]}
            try:
                result = function.handler(event, function.context())
                failed = (
                    {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
                    if reports_failures
                    else set()
                )
            except Exception:
                failed = {m["MessageId"] for m in received}
            for message in received:
                if message["MessageId"] in failed:
                    sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=RETRY_AFTER_SECONDS
                    )
                else:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def _poll_stream(self, function: Function, source: dict[str, Any]) -> None:
        """DynamoDB Streams, read from moto's backend in this process (its HTTP API does not answer this
        botocore), handed to the function in batches; a reported failure is retried from that record."""
        from moto.dynamodbstreams.models import dynamodbstreams_backends  # noqa: PLC0415 - moto runs in this process

        backend = dynamodbstreams_backends[MOTO_ACCOUNT][REGION]
        table = self.names[source["Stream"]["Fn::GetAtt"][0]]
        arn = aws.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shard = backend.describe_stream(arn)["Shards"][0]["ShardId"]
        iterator = backend.get_shard_iterator(arn, shard, "TRIM_HORIZON").arn
        reports_failures = "ReportBatchItemFailures" in source.get("FunctionResponseTypes", [])
        while not self._stopping.is_set():
            page = backend.get_records(iterator, int(source.get("BatchSize", 100)))
            records = [{**json.loads(json.dumps(r, default=str)), "eventSourceARN": arn} for r in page["Records"]]
            if not records:
                iterator = page["NextShardIterator"]
                self._stopping.wait(0.5)
                continue
            try:
                result = function.handler({"Records": records}, function.context())
                failed = (
                    [f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])]
                    if reports_failures
                    else []
                )
            except Exception:
                failed = [records[0]["dynamodb"]["SequenceNumber"]]
            if failed:
                iterator = backend.get_shard_iterator(arn, shard, "AT_SEQUENCE_NUMBER", min(failed, key=int)).arn
                self._stopping.wait(RETRY_AFTER_SECONDS)
            else:
                iterator = page["NextShardIterator"]

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


RATE_UNITS: Final = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


@dataclass
class Schedule:
    function: str
    expression: str
    input: dict[str, Any]
    every_seconds: float | None  # None: a cron() or at() expression, fired on demand only here
    runs: int = 0
    last_result: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_event(cls, function: str, properties: dict[str, Any]) -> "Schedule":
        expression = str(properties["ScheduleExpression"])
        return cls(function, expression, json.loads(properties.get("Input", "{}")), rate_seconds(expression))

    def describe(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "expression": self.expression,
            "input": self.input,
            "runs": self.runs,
            "last_result": self.last_result,
        }


def rate_seconds(expression: str) -> float | None:
    """`rate(15 minutes)` in seconds; None for cron() and at(), which the local stack does not time."""
    if not (expression.startswith("rate(") and expression.endswith(")")):
        return None
    value, _, unit = expression[5:-1].strip().partition(" ")
    if not value.isdigit() or unit.strip() not in RATE_UNITS or int(value) < 1:
        raise ValueError(f"not a Scheduler rate expression: {expression}")
    return int(value) * RATE_UNITS[unit.strip()]


def _lazy(module: str, attribute: str) -> Handler:
    """Imports a function's module on first use, after the environment is in place."""
    loaded: dict[str, Handler] = {}

    def invoke(event: dict[str, Any], context: Any) -> Any:
        if "handler" not in loaded:
            loaded["handler"] = getattr(importlib.import_module(module), attribute)
        return loaded["handler"](event, context)

    return invoke


def _sqs_record(message: Any, arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": REGION,
    }


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def http_json(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None, *, timeout: float = 10
) -> tuple[int, Any]:
    """A JSON request to the local stack: (status, decoded body), error statuses included."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
