"""Every AWS call a function makes in the local stack, written as one JSON line per call
(`make run ARGS="--trace-calls calls.jsonl"`): the function, the service and operation, and the names of
what it touched (tables, buckets and keys, queues, secrets), never the values. The integration tests
check each call against the function's IAM policy in the translated template."""

import contextvars
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.client import BaseClient

_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("local_function", default=None)
# The request parameters that name a resource; everything else (items, bodies, messages) stays out.
NAMING = ("TableName", "IndexName", "Bucket", "Key", "Prefix", "QueueUrl", "SecretId", "StreamArn")


class CallTrace:
    def __init__(self, path: Path, resources: dict[str, Any]) -> None:
        self._path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"resources": resources}) + "\n")  # what the policies' names resolve to
        original = BaseClient._make_api_call  # type: ignore[attr-defined]
        trace = self

        def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            function = _CURRENT.get()
            if function is not None:
                trace.record(function, client.meta.service_model.service_name, operation, params)
            return original(client, operation, params)

        BaseClient._make_api_call = recording  # type: ignore[attr-defined]

    def record(self, function: str, service: str, operation: str, params: dict[str, Any]) -> None:
        named = {k: params[k] for k in NAMING if isinstance(params.get(k), str)}
        if isinstance(params.get("RequestItems"), dict):  # BatchGetItem, BatchWriteItem
            named["Tables"] = sorted(params["RequestItems"])
        line = json.dumps({"function": function, "service": service, "operation": operation, **named})
        with self._lock, self._path.open("a") as out:
            out.write(line + "\n")

    @staticmethod
    def wrap(function: str, handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
        def traced(event: dict[str, Any], context: Any) -> Any:
            token = _CURRENT.set(function)
            try:
                return handler(event, context)
            finally:
                _CURRENT.reset(token)

        return traced
