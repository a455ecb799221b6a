"""template.yaml hygiene that cfn-lint does not check: queues, retries, logs, handlers."""

import importlib
import json
import re
from typing import Any

import pytest

from loyalty_hub_dev.local.template import ROOT, resource, template

RESOURCES: dict[str, Any] = template()["Resources"]
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
QUEUES = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::SQS::Queue"}
GLOBAL_TIMEOUT = template()["Globals"]["Function"]["Timeout"]


def sqs_sources() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (fn, event["Properties"]["Queue"]["Fn::GetAtt"][0], event["Properties"])
        for fn, r in FUNCTIONS.items()
        for event in r["Properties"].get("Events", {}).values()
        if event["Type"] == "SQS"
    ]


def test_there_are_queue_consumers_to_check() -> None:
    assert sqs_sources()


@pytest.mark.parametrize(("function", "queue", "source"), sqs_sources())
def test_queue_consumers_report_partial_failures_and_fit_the_visibility_timeout(
    function: str, queue: str, source: dict[str, Any]
) -> None:
    assert "ReportBatchItemFailures" in source.get("FunctionResponseTypes", [])
    timeout = FUNCTIONS[function]["Properties"].get("Timeout", GLOBAL_TIMEOUT)
    window = source.get("MaximumBatchingWindowInSeconds", 0)
    assert QUEUES[queue]["Properties"]["VisibilityTimeout"] >= 6 * timeout + window


@pytest.mark.parametrize("queue", [q for q, r in QUEUES.items() if "RedrivePolicy" in r["Properties"]])
def test_queues_redrive_after_five_receives_to_a_fourteen_day_dlq(queue: str) -> None:
    redrive = QUEUES[queue]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] >= 5
    dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert QUEUES[dlq]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    alarmed = [
        r
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and any(d["Value"] == {"Fn::GetAtt": [dlq, "QueueName"]} for d in r["Properties"]["Dimensions"])
    ]
    assert alarmed, f"no alarm on the depth of {dlq}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_a_handler_and_a_log_group_with_retention(function: str) -> None:
    props = FUNCTIONS[function]["Properties"]
    module_name, attribute = props["Handler"].rsplit(".", 1)
    path = ROOT / props["CodeUri"] / f"{module_name}.py"
    assert path.is_file()
    module = importlib.import_module(f"{props['CodeUri'].replace('/', '.')}.{module_name}")
    assert callable(getattr(module, attribute))
    log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
    assert resource(log_group)["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_functions_share_the_layer_runtime_and_architecture() -> None:
    globals_ = template()["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.13" and globals_["Architectures"] == ["arm64"]
    assert globals_["Layers"] == [{"Ref": "SharedLayer"}]
    assert resource("SharedLayer")["Metadata"]["BuildMethod"] == "makefile"
    assert (ROOT / ".python-version").read_text().split()[0].startswith("3.13")


@pytest.mark.parametrize("path", sorted((ROOT / "events").rglob("*.json")), ids=lambda p: p.name)
def test_events_are_valid_lambda_events(path: Any) -> None:
    event = json.loads(path.read_text())
    if "Records" in event and event["Records"][0]["eventSource"] == "aws:dynamodb":
        for record in event["Records"]:
            assert record["eventName"] in {"INSERT", "MODIFY", "REMOVE"} and "SequenceNumber" in record["dynamodb"]
            assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    elif "Records" in event:
        assert all(r["eventSource"] == "aws:sqs" and isinstance(r["body"], str) for r in event["Records"])
    elif path.parent.name in SCHEDULE_INPUTS:
        # Scheduler hands the function its schedule's Input as the event: a sample may only add to it.
        assert SCHEDULE_INPUTS[path.parent.name].items() <= event.items()
    else:
        assert event["httpMethod"] in {"GET", "POST", "PUT"} and event["path"].startswith("/")
        assert event["requestContext"]["stage"] and isinstance(event["headers"], dict)


def schedules() -> dict[str, dict[str, Any]]:
    return {
        fn: event["Properties"]
        for fn, r in FUNCTIONS.items()
        for event in r["Properties"].get("Events", {}).values()
        if event["Type"] == "ScheduleV2"
    }


SCHEDULE_INPUTS = {
    FUNCTIONS[fn]["Properties"]["CodeUri"].split("/")[-1]: json.loads(props["Input"])
    for fn, props in schedules().items()
}


def test_scheduled_jobs_run_at_a_rate_each_stage_sets_and_never_pile_up_retries() -> None:
    assert set(schedules()) == {"StoryousPullFunction", "ReconcileFunction"}
    parameters = template()["Parameters"]
    for function, props in schedules().items():
        rate = props["ScheduleExpression"]["Ref"]
        assert parameters[rate]["Default"].startswith("rate("), function
        assert props["State"] == {"Ref": "SchedulesState"}
        assert props["RetryPolicy"]["MaximumRetryAttempts"] == 0  # the next run picks up where this one stopped
        assert FUNCTIONS[function]["Properties"]["Timeout"] >= 60


def _granted(function: str, action: str) -> set[str]:
    """Logical ids of the resources a function's own statements grant `action` on."""
    found = set()
    for policy in FUNCTIONS[function]["Properties"]["Policies"]:
        for statement in policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if action in actions:
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                found |= {r["Fn::GetAtt"][0] for r in resources if "Fn::GetAtt" in r}
                found |= {m for r in resources if "Fn::Sub" in r for m in re.findall(r"\$\{(\w+)\.Arn\}", r["Fn::Sub"])}
    return found


def test_reconcile_may_read_the_depth_of_every_queue_it_measures() -> None:
    variables = FUNCTIONS["ReconcileFunction"]["Properties"]["Environment"]["Variables"]
    measured = {
        name
        for variable in ("VENDOR_DEAD_LETTER_QUEUES", "WATCHED_QUEUES")
        for name in re.findall(r"\$\{(\w+)\}", variables[variable]["Fn::Sub"])
    } | {"VoyadoQueue"}  # its backlog decides whether the Voyado refresh runs
    assert measured <= _granted("ReconcileFunction", "sqs:GetQueueAttributes")


VENDOR_FUNCTIONS = {
    r["Properties"]["Handler"].removeprefix("app."): name
    for name, r in FUNCTIONS.items()
    if r["Properties"]["CodeUri"] == "functions/vendors"
}


def test_every_registered_vendor_has_its_function_queues_and_alarms_and_nothing_else() -> None:
    from loyalty_hub.models.vendors import VENDORS  # noqa: PLC0415

    assert set(VENDOR_FUNCTIONS) == set(VENDORS)
    for variable in ("VENDOR_QUEUES", "VENDOR_DEAD_LETTER_QUEUES"):
        for function in [*VENDOR_FUNCTIONS.values(), "CaptureFunction", "ReconcileFunction"]:
            variables = FUNCTIONS[function]["Properties"]["Environment"]["Variables"]
            if variable in variables:
                assert set(json.loads(re.sub(r"\$\{\w+\}", "x", variables[variable]["Fn::Sub"]))) == set(VENDORS)
    for vendor in VENDORS:
        assert _alarmed("LoyaltyHub", "AuthFailed", "vendor", vendor)


@pytest.mark.parametrize("vendor", sorted(VENDOR_FUNCTIONS))
def test_vendor_workers_may_defer_onto_their_own_queue_and_dead_letter(vendor: str) -> None:
    function = VENDOR_FUNCTIONS[vendor]
    variables = FUNCTIONS[function]["Properties"]["Environment"]["Variables"]
    queues = dict(re.findall(r'"(\w+)": "\$\{(\w+)\}"', variables["VENDOR_QUEUES"]["Fn::Sub"]))
    dlqs = dict(re.findall(r'"(\w+)": "\$\{(\w+)\}"', variables["VENDOR_DEAD_LETTER_QUEUES"]["Fn::Sub"]))
    assert {queues[vendor], dlqs[vendor]} <= _granted(function, "sqs:SendMessage")
    assert queues[vendor] in _granted(function, "sqs:ChangeMessageVisibility")


def test_our_policies_name_their_resources_and_use_no_policy_templates() -> None:
    for function, r in FUNCTIONS.items():
        for policy in r["Properties"]["Policies"]:
            assert set(policy) == {"Statement"}, function  # no SAM policy template: their grants are wider
            for statement in policy["Statement"]:
                assert statement["Effect"] == "Allow" and "*" not in json.dumps(statement["Action"]), function
                assert statement["Resource"] != "*" and "Resource" in statement, function
    customer_api = _granted("CustomerApiFunction", "dynamodb:Scan") | _granted("CustomerApiFunction", "s3:DeleteObject")
    assert customer_api == set() and _granted("CustomerApiFunction", "s3:PutObject") == {"SyncSnapshotBucket"}
    assert _granted("WebhookFunction", "s3:PutObject") == {"RawBucket"}
    assert not _granted("WebhookFunction", "s3:PutLifecycleConfiguration")


def test_vendor_queue_consumers_cap_their_concurrency() -> None:
    vendor_sources = [(fn, queue, source) for fn, queue, source in sqs_sources() if queue != "IngestQueue"]
    assert vendor_sources
    for function, _, source in vendor_sources:
        assert 2 <= source["ScalingConfig"]["MaximumConcurrency"] <= 1000, function


def test_stream_consumers_report_partial_failures_and_keep_what_never_succeeds() -> None:
    streams = [
        event["Properties"]
        for r in FUNCTIONS.values()
        for event in r["Properties"].get("Events", {}).values()
        if event["Type"] == "DynamoDB"
    ]
    assert streams
    for source in streams:
        assert "ReportBatchItemFailures" in source["FunctionResponseTypes"]
        assert source["BisectBatchOnFunctionError"] is True
        failure_queue = source["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        assert QUEUES[failure_queue]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


ALARMS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
TOPIC = [{"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}]


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_every_alarm_reaches_the_alarm_topic_and_says_when_it_is_over(alarm: str) -> None:
    properties = ALARMS[alarm]["Properties"]
    assert properties["AlarmActions"] == TOPIC and properties["OKActions"] == TOPIC


def test_the_stack_has_its_own_alarm_topic_unless_one_is_given() -> None:
    assert RESOURCES["AlarmTopic"]["Condition"] == "OwnAlarmTopic"
    assert RESOURCES["AlarmEmailSubscription"]["Properties"]["Protocol"] == "email"


def test_schedules_are_named_by_cloudformation_so_stages_coexist() -> None:
    schedules = [e for r in FUNCTIONS.values() for e in r["Properties"]["Events"].values() if e["Type"] == "ScheduleV2"]
    assert schedules and all(e["Properties"].get("OmitName") is True for e in schedules)


@pytest.mark.parametrize("queue", sorted(QUEUES))
def test_queues_outlive_a_stack_delete(queue: str) -> None:
    assert QUEUES[queue]["DeletionPolicy"] == "Retain" and QUEUES[queue]["UpdateReplacePolicy"] == "Retain"


def test_every_stage_deploys_by_its_config_env() -> None:
    import tomllib  # noqa: PLC0415

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for stage in ("dev", "staging", "prod"):
        assert config[stage]["global"]["parameters"]["stack_name"] == f"loyalty-hub-{stage}"
        assert f"Stage={stage}" in config[stage]["deploy"]["parameters"]["parameter_overrides"]


THRESHOLDS: dict[str, dict[str, Any]] = template()["Mappings"]["Alarm"]


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_every_alarm_takes_its_threshold_and_periods_from_the_one_table(alarm: str) -> None:
    properties = ALARMS[alarm]["Properties"]
    kinds = set()
    for field, key in [("Threshold", "Threshold"), ("Period", "Period"), ("EvaluationPeriods", "Periods"),
                       ("DatapointsToAlarm", "Datapoints")]:  # fmt: skip
        mapped = properties[field]["Fn::FindInMap"]
        assert mapped[0] == "Alarm" and mapped[2] == key, (alarm, field)
        kinds.add(mapped[1])
    assert len(kinds) == 1 and kinds <= set(THRESHOLDS)
    row = THRESHOLDS[kinds.pop()]
    assert 1 <= row["Datapoints"] <= row["Periods"] and row["Period"] % 60 == 0
    assert len(properties["AlarmDescription"]) <= 1024  # CloudWatch's limit


def test_every_threshold_row_is_used_and_states_its_reason() -> None:
    used = {a["Properties"]["Threshold"]["Fn::FindInMap"][1] for a in ALARMS.values()}
    assert used == set(THRESHOLDS)
    text = (ROOT / "template.yaml").read_text()
    for row in THRESHOLDS:
        assert re.search(rf"^    {row}:  # \S", text, re.M), f"{row} has no reason beside it"


def _alarmed(namespace: str, metric: str, dimension: str, value: Any) -> list[str]:
    return [
        name
        for name, a in ALARMS.items()
        if a["Properties"]["Namespace"] == namespace
        and a["Properties"]["MetricName"] == metric
        and {"Name": dimension, "Value": value} in a["Properties"]["Dimensions"]
    ]


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_an_errors_and_a_throttles_alarm(function: str, metric: str) -> None:
    assert _alarmed("AWS/Lambda", metric, "FunctionName", {"Ref": function})


@pytest.mark.parametrize("vendor", ["custobar", "voyado", "orderingstack"])
def test_every_vendor_has_an_auth_failure_and_a_deferral_alarm(vendor: str) -> None:
    assert _alarmed("LoyaltyHub", "AuthFailed", "vendor", vendor)
    assert _alarmed("LoyaltyHub", "Deferred", "vendor", vendor)  # deferrals cost no attempt: never dead-lettered


def test_the_stream_the_ingest_backlog_and_the_api_are_alarmed() -> None:
    assert _alarmed("AWS/Lambda", "IteratorAge", "FunctionName", {"Ref": "CaptureFunction"})
    assert _alarmed(
        "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", {"Fn::GetAtt": ["IngestQueue", "QueueName"]}
    )
    api_name = resource("Api")["Properties"]["Name"]
    api = {"Name": "ApiName", "Value": api_name}
    on_api = {a["Properties"]["MetricName"] for a in ALARMS.values() if api in a["Properties"]["Dimensions"]}
    assert on_api == {"5XXError", "Latency"}


def test_every_metric_an_alarm_or_the_dashboard_reads_is_one_the_code_emits() -> None:
    sources = "\n".join(
        p.read_text() for p in (ROOT / "layers/shared/loyalty_hub").rglob("*.py") if "local" not in p.parts
    )
    sources += "\n".join(p.read_text() for p in (ROOT / "functions").rglob("*.py"))
    ours = {a["Properties"]["MetricName"] for a in ALARMS.values() if a["Properties"]["Namespace"] == "LoyaltyHub"}
    body = resource("Dashboard")["Properties"]["DashboardBody"]["Fn::Sub"]
    ours |= set(re.findall(r'\["LoyaltyHub","(\w+)"', body)) | set(re.findall(r'MetricName=\\"(\w+)\\"', body))
    assert len(ours) > 10
    assert [m for m in sorted(ours) if f'"{m}"' not in sources] == []


def test_the_dashboard_shows_every_alarm() -> None:
    body = resource("Dashboard")["Properties"]["DashboardBody"]["Fn::Sub"]
    shown = set(re.findall(r'"\$\{(\w+)\.Arn\}"', body))
    assert shown == set(ALARMS)
    json.loads(re.sub(r"\$\{[\w:.]+\}", "x", body))  # valid JSON once substituted


def test_scheduled_runs_that_fail_are_kept_and_alarmed() -> None:
    for function, props in schedules().items():
        config = FUNCTIONS[function]["Properties"]["EventInvokeConfig"]
        queue = config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        assert config["DestinationConfig"]["OnFailure"]["Type"] == "SQS" and config["MaximumRetryAttempts"] <= 2
        assert props["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [queue, "Arn"]}  # Scheduler could not invoke
        assert _alarmed(
            "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", {"Fn::GetAtt": [queue, "QueueName"]}
        )


def _api_routes() -> list[tuple[str, str]]:
    return [
        (e["Properties"]["Path"], e["Properties"]["Method"].upper())
        for r in FUNCTIONS.values()
        for e in r["Properties"].get("Events", {}).values()
        if e["Type"] == "Api"
    ]


def test_one_stage_with_throttling_per_route_and_access_logs_without_paths() -> None:
    assert template()["Globals"]["Api"]["OpenApiVersion"].startswith("3.")  # else SAM adds a stage named Stage
    props = resource("Api")["Properties"]
    settings = {(m["ResourcePath"], m["HttpMethod"]): m for m in props["MethodSettings"]}
    assert settings[("/*", "*")]["ThrottlingRateLimit"] <= 10  # what no function serves gets the least
    for path, method in _api_routes():
        if path.endswith("openapi.json"):
            continue
        route = settings[("/" + path.replace("/", "~1"), method)]
        assert route["ThrottlingRateLimit"] > 0 and route["ThrottlingBurstLimit"] >= route["ThrottlingRateLimit"]
    access = props["AccessLogSetting"]["Fn::If"]
    assert access[0] == "AccessLogs" and access[1]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert "$context.path" not in access[1]["Format"] and "$context.resourcePath" in access[1]["Format"]
    json.loads(access[1]["Format"])
    assert resource("ApiAccessLogGroup")["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


@pytest.mark.parametrize("table", sorted(n for n, r in RESOURCES.items() if r["Type"] == "AWS::DynamoDB::Table"))
def test_tables_outlive_a_stack_delete_and_prod_protects_them(table: str) -> None:
    r = RESOURCES[table]
    assert r["DeletionPolicy"] == "Retain" and r["UpdateReplacePolicy"] == "Retain"
    assert r["Properties"]["DeletionProtectionEnabled"] == {"Ref": "DeletionProtection"}


def test_the_archive_is_retained_and_versioned_with_old_versions_expiring() -> None:
    import tomllib  # noqa: PLC0415

    bucket = resource("RawBucket")
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays", 999) <= 30 for r in rules)
    prod = tomllib.loads((ROOT / "samconfig.toml").read_text())["prod"]["deploy"]["parameters"]
    assert "DeletionProtection=true" in prod["parameter_overrides"]


def _secret_grants(function: str) -> list[str]:
    return [
        statement["Resource"]["Fn::Sub"]
        for policy in FUNCTIONS[function]["Properties"].get("Policies", [])
        if isinstance(policy, dict)
        for statement in policy.get("Statement", [])
        if "secretsmanager" in str(statement["Action"])
    ]


def test_each_function_may_read_the_secrets_of_its_own_use_only() -> None:
    from loyalty_hub.secrets import USES  # noqa: PLC0415

    grants = {fn: _secret_grants(fn) for fn in FUNCTIONS}
    uses = {}
    for function, resources in grants.items():
        assert len(resources) <= 1, function
        for arn in resources:
            match = re.fullmatch(r"arn:\$\{AWS::Partition\}:secretsmanager:\$\{AWS::Region\}:\$\{AWS::AccountId\}"
                                 r":secret:loyalty-hub/\$\{Stage\}/(\w+)/\*", arn)  # fmt: skip
            assert match and match.group(1) in USES, (function, arn)
            uses[function] = match.group(1)
    assert sorted(uses.values()) == sorted(USES)  # one function per use, each use read by one function
    code = "\n".join(p.read_text() for p in [*(ROOT / "functions").rglob("*.py"), *(ROOT / "layers").rglob("*.py")])
    read = re.findall(r'secrets\.reader\(settings, "(\w+)"\)', code)
    assert sorted(read) == sorted(USES)
    assert template()["Globals"]["Function"]["Environment"]["Variables"]["SECRETS_PREFIX"] == {
        "Fn::Sub": "loyalty-hub/${Stage}"
    }


def test_the_operations_guide_explains_every_alarm() -> None:
    guide = (ROOT / "docs/operations.md").read_text()
    assert [alarm for alarm in sorted(ALARMS) if f"`{alarm}`" not in guide] == []
