"""In-memory stand-ins for the DynamoDB and S3 clients, so CPU measurements see our code, not a mock server."""

import io
from typing import Any
from urllib.parse import unquote, urlsplit


class FakeDynamoDB:
    """The subset of the DynamoDB client the ingest path calls, over dicts keyed like the real tables."""

    def __init__(self, key_names: dict[str, tuple[str, ...]]) -> None:
        if any(len(names) not in (1, 2) for names in key_names.values()):
            raise ValueError("a DynamoDB table has a partition key and at most one sort key")
        self._keys = key_names
        self.tables: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {name: {} for name in key_names}

    def _key(self, table: str, key: dict[str, Any]) -> tuple[str, ...]:
        # Unrolled for one and two key attributes: this stands for the network, so it should cost next to nothing.
        names = self._keys[table]
        if len(names) == 1:
            return (key[names[0]]["S"],)
        return (key[names[0]]["S"], key[names[1]]["S"])

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        item = self.tables[TableName].get(self._key(TableName, Key))
        return {"Item": item} if item else {}

    def put_item(self, TableName: str, Item: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.tables[TableName][self._key(TableName, Item)] = Item
        return {}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        responses: dict[str, list[dict[str, Any]]] = {}
        for table, request in RequestItems.items():
            rows = self.tables[table]
            found = [rows[k] for key in request["Keys"] if (k := self._key(table, key)) in rows]
            responses[table] = found
        return {"Responses": responses, "UnprocessedKeys": {}}

    def query(self, TableName: str, ExpressionAttributeValues: dict[str, Any], **_: Any) -> dict[str, Any]:
        """A whole partition (`pk = :pk`, as dal.batch.query_partition asks), in one page."""
        pk = ExpressionAttributeValues[":pk"]["S"]
        return {"Items": [item for key, item in sorted(self.tables[TableName].items()) if key[0] == pk]}

    def get_paginator(self, operation: str) -> "FakeDynamoDB._Pages":
        if operation != "query":
            raise NotImplementedError(operation)
        return self._Pages(self)

    class _Pages:
        def __init__(self, ddb: "FakeDynamoDB") -> None:
            self._ddb = ddb

        def paginate(self, **request: Any) -> list[dict[str, Any]]:
            return [self._ddb.query(**request)]

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        for table, requests in RequestItems.items():
            rows, key = self.tables[table], self._key
            for request in requests:
                if (put := request.get("PutRequest")) is not None:
                    rows[key(table, put["Item"])] = put["Item"]
                else:
                    rows.pop(key(table, request["DeleteRequest"]["Key"]), None)
        return {"UnprocessedItems": {}}


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.objects[(Bucket, Key)] = Body
        return {}

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


class LambdaContext:
    """What a handler reads from Lambda's context object."""

    memory_limit_in_mb = 1024
    aws_request_id = "bench"

    def __init__(self, function_name: str, remaining_ms: int = 120_000) -> None:
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:eu-central-1:123456789012:function:{function_name}"
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


class RawBody(io.BytesIO):
    """A response body as botocore reads it: whole (stream) or as a streaming body (read)."""

    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def wired(ddb: FakeDynamoDB, s3: FakeS3, config: Any = None) -> tuple[Any, Any]:
    """Real botocore DynamoDB and S3 clients whose requests are answered by the fakes (botocore's
    before-send event): CPU measured through them includes botocore's validation, serialising and
    parsing, and no network."""
    import boto3  # noqa: PLC0415 - only this measurement needs real clients
    import orjson  # noqa: PLC0415
    from botocore.awsrequest import AWSResponse  # noqa: PLC0415

    def dynamodb(request: Any, **_: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"].decode().split(".")[1]
        method = "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")
        body = getattr(ddb, method)(**orjson.loads(request.body))
        return AWSResponse(
            request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, RawBody(orjson.dumps(body))
        )

    def s3_get(request: Any, **_: Any) -> AWSResponse:
        _, bucket, key = unquote(urlsplit(request.url).path).split("/", 2)  # path-style: /bucket/key
        data = s3.objects[(bucket, key)]
        return AWSResponse(request.url, 200, {"Content-Length": str(len(data))}, RawBody(data))

    session = boto3.session.Session(
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - no AWS is reached
        region_name="eu-central-1",
    )
    dynamodb_client = session.client("dynamodb", config=config)
    s3_client = session.client("s3", config=config, endpoint_url="http://s3.local")  # path-style: /bucket/key
    dynamodb_client.meta.events.register_first("before-send", dynamodb)
    s3_client.meta.events.register_first("before-send", s3_get)
    return dynamodb_client, s3_client
