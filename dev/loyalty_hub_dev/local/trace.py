"""Every AWS call a function makes in the local stack, written as one JSON line per call
(`make run ARGS="--trace-calls calls.jsonl"`): the function, the service and operation, and the names of
what it touched (tables, buckets and keys, queues, secrets), never the values. The integration tests
check each call against the function's IAM policy in the translated template."""

import json
import threading
from pathlib import Path
from typing import Any

from botocore.client import BaseClient

from loyalty_hub_dev.local.console import running_function

# The request parameters that name a resource; everything else (items, bodies, messages) stays out.
NAMING = ("TableName", "IndexName", "Bucket", "Key", "Prefix", "QueueUrl", "SecretId", "StreamArn", "VersionId")


class CallTrace:
    def __init__(self, path: Path, resources: dict[str, Any]) -> None:
        self._path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"resources": resources}) + "\n")  # what the policies' names resolve to
        original = BaseClient._make_api_call  # type: ignore[attr-defined]
        trace = self

        def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            function = running_function()  # set by console.invoked around every handler
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
