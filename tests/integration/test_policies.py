"""Least privilege: every Lambda function has its own hand-written policy, and what its code calls is what it may call.

Static checks read `.chalice/config.json` and the policy files; the call-coverage test drives the product end to end in
moto (API requests, every stream, queue, topic and schedule through the pump) with a botocore hook that records each
AWS call together with the function it ran in, and checks each call against that function's policy.
"""

from __future__ import annotations

import contextvars
import fnmatch
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.scenario_support import (
    World,
    user_in,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

ROOT = Path(__file__).resolve().parents[2]
CHALICE = ROOT / ".chalice"
PARTITION, REGION, ACCOUNT = "aws", "us-east-1", "123456789012"

# Statements whose resources may contain a wildcard, by Sid, with the reason. Wildcard actions are never allowed.
ALLOWED_WILDCARDS = {
    # X-Ray's PutTraceSegments / PutTelemetryRecords have no resource type: IAM only accepts "*" (Powertools Tracer,
    # and Lambda's own segments when API Gateway passes a sampled trace header through).
    "XRayTraceSegments": "xray:PutTraceSegments/PutTelemetryRecords support no resource ARN",
    # A text message is published to a phone number, which has no ARN: IAM only accepts "*" for sns:Publish to one.
    "SmsToPhoneNumbers": "sns:Publish to a PhoneNumber has no resource ARN",
    # The sender address or domain is a deployment setting (ONE2ONE_EMAIL_FROM), verified in SES outside the stack;
    # the statement is limited to this account and region, and every send also needs the stack's configuration set.
    "EmailFromVerifiedIdentities": "the SES sender identity is configured at deploy time, not created by the stack",
    # Lambda names its log group after the function, whose name CloudFormation generates as
    # <stack>-<LogicalId>-<random>: the random suffix is unknown to the policy (referencing the function would be a
    # circular dependency). Each function gets only its own <stack>-<LogicalId>- prefix.
    "OwnLogs": "the generated function name has a random suffix",
    # The SES account's maximum send rate (the shared sending rate) is account-level: no resource type exists.
    "SesAccountSendRate": "ses:GetAccount / ses:GetSendQuota have no resource ARN",
    # dynamodb:ListStreams is authorized on the table's `stream/*` (as in SAM's DynamoDBStreamReadPolicy): Lambda's
    # event source mapping lists the table's streams, whose labels are only known once the table exists.
    "EventsStreamList": "ListStreams is granted on <table>/stream/*, the stream label is not known in advance",
    "ProfilesStreamList": "ListStreams is granted on <table>/stream/*, the stream label is not known in advance",
    "CatalogStreamList": "ListStreams is granted on <table>/stream/*, the stream label is not known in advance",
    "SegmentMembersStreamList": "ListStreams is granted on <table>/stream/*, the stream label is not known in advance",
    # Object ARNs of the stack's own import bucket: the keys are whatever operators upload (people/..., pinpoint/...).
    "ImportBucketObjects": "objects of the stack's import bucket (<bucket arn>/*): keys are chosen by uploaders",
    "ImportBucketRead": "objects of the stack's import bucket (<bucket arn>/*): keys are chosen by uploaders",
    # The archive's objects are named by day and stream sequence numbers (tracking/archive.object_key): only events/.
    "ArchiveBucketWrite": "archive objects (<bucket arn>/events/*): keys are days and stream sequence numbers",
    "ArchiveBucketObjects": "archive objects (<bucket arn>/events/*): erasure rewrites a person's day partitions",
    # Export files are named by segment and export id (exports/service.export_key) and carry objects by export id.
    "ExportBucketObjects": "export objects (<bucket arn>/exports/*): keys are segment and export ids",
    # The CLV job reads every archive object (events/ only) or Athena's result objects, named by query id.
    "ArchiveBucketRead": "archive objects (<bucket arn>/events/*): the customer summary reads every day",
    "AthenaResults": "Athena's query results (<bucket arn>/athena-results/*): keys are query execution ids",
    # A push token's platform endpoint is created at first send: its id is SNS's. Only the stack's own platform
    # applications' endpoints (`endpoint/<platform>/<stack>-push/*`).
    "PushPlatformEndpoints": "endpoints of the stack's push platform applications: SNS names each one",
    "PushPlatformEndpointsDelete": "endpoints of the stack's push platform applications: an erasure deletes them",
}
# Statements on resources CloudFormation cannot create, named after the stack by the setup that does (by Sid: the
# pattern their symbolic ARN must match). SNS platform applications have no resource type: local/push_apps.py creates
# `<stack>-push` from the stack's Secrets Manager secrets.
NAMED_BY_THE_STACK = {
    "PushPlatformEndpointsCreate": rf"^arn:aws:sns:{REGION}:{ACCOUNT}:app/(APNS|APNS_SANDBOX|GCM)/STACK-push$",
}
# Statements that also name the account's Glue Data Catalog (arn:...:glue:<region>:<account>:catalog), with the
# reason: Glue authorises every read of a database or table on the catalog too; it is no resource of the stack.
GLUE_CATALOG = {"GlueArchiveTable": "glue:GetDatabase/GetTable/GetPartitions are authorised on the catalog as well"}
# The only actions a wildcard resource may carry, per Sid.
WILDCARD_ACTIONS = {
    "XRayTraceSegments": {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
    "SmsToPhoneNumbers": {"sns:Publish"},
    "EmailFromVerifiedIdentities": {"ses:SendEmail", "ses:SendRawEmail"},
    "OwnLogs": {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
    "SesAccountSendRate": {"ses:GetAccount", "ses:GetSendQuota"},
    "EventsStreamList": {"dynamodb:ListStreams"},
    "ProfilesStreamList": {"dynamodb:ListStreams"},
    "CatalogStreamList": {"dynamodb:ListStreams"},
    "SegmentMembersStreamList": {"dynamodb:ListStreams"},
    "ImportBucketObjects": {"s3:GetObject", "s3:PutObject"},
    "ImportBucketRead": {"s3:GetObject"},
    "ArchiveBucketWrite": {"s3:PutObject"},
    "ArchiveBucketObjects": {"s3:DeleteObject", "s3:GetObject", "s3:PutObject"},
    "ExportBucketObjects": {"s3:DeleteObject", "s3:GetObject", "s3:PutObject"},
    "ArchiveBucketRead": {"s3:GetObject"},
    "AthenaResults": {"s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"},
    "PushPlatformEndpoints": {"sns:DeleteEndpoint", "sns:Publish"},
    "PushPlatformEndpointsDelete": {"sns:DeleteEndpoint"},
}


# --- which functions exist, and their policies -----------------------------------------------------------------------


def _config() -> dict[str, Any]:
    return json.loads((CHALICE / "config.json").read_text())


def _function_names() -> list[str]:
    from app import app

    # api_handler serves the public API, admin_api the /admin routes (the same app packaged twice: see app.py)
    return ["api_handler", "admin_api", *sorted(source.name for source in app.event_sources)]


def _logical_id(function: str) -> str:
    """The logical id a function has in the packaged template (`api_handler` is `APIHandler`)."""
    special = {"api_handler": "APIHandler", "admin_api": "AdminAPIHandler"}
    return special.get(function) or "".join(p.title() for p in function.split("_"))


def _policy(function: str) -> dict[str, Any]:
    config = _config()
    file_name = config.get("lambda_functions", {}).get(function, {}).get("iam_policy_file")
    assert file_name, f"{function} has no iam_policy_file in .chalice/config.json lambda_functions"
    return json.loads((CHALICE / file_name).read_text())


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _symbolic(resource: Any) -> str:
    """A policy resource as a comparable string: template references become their logical id.

    `{"Fn::GetAtt": ["EventsTable", "Arn"]}` -> `EventsTable`, `${EventsTable.Arn}/index/x` -> `EventsTable/index/x`,
    `{"Fn::GetAtt": ["EventsTable", "StreamArn"]}` -> `EventsTable/stream`, pseudo parameters -> test values.
    """
    if isinstance(resource, dict):
        if "Ref" in resource:
            return str(resource["Ref"])
        if "Fn::GetAtt" in resource:
            logical_id, attribute = resource["Fn::GetAtt"]
            return {"Arn": logical_id, "StreamArn": f"{logical_id}/stream"}[attribute]
        if "Fn::Sub" in resource:
            text = resource["Fn::Sub"]
            for name, value in {"Partition": PARTITION, "Region": REGION, "AccountId": ACCOUNT}.items():
                text = text.replace("${AWS::" + name + "}", value)
            text = text.replace("${AWS::StackName}", "STACK")
            return re.sub(r"\$\{([A-Za-z0-9]+)(?:\.Arn)?\}", r"\1", text)
        raise AssertionError(f"unsupported policy resource {resource!r}")
    return str(resource)


def _references(resource: Any) -> set[str]:
    """The template resources a policy resource refers to (none for a literal string)."""
    if not isinstance(resource, dict):
        return set()
    if "Ref" in resource:
        return {resource["Ref"]}
    if "Fn::GetAtt" in resource:
        return {resource["Fn::GetAtt"][0]}
    return set(re.findall(r"\$\{([A-Za-z0-9]+)(?:\.Arn)?\}", resource.get("Fn::Sub", "")))


def _statements(function: str) -> list[dict[str, Any]]:
    return _policy(function)["Statement"]


# --- static checks ---------------------------------------------------------------------------------------------------


def test_every_function_has_its_own_policy_file_and_no_stage_policy_is_shared():
    config = _config()
    assert config["autogen_policy"] is False
    files = {}
    for function in _function_names():
        _policy(function)  # exists and parses
        files[function] = config["lambda_functions"][function]["iam_policy_file"]
    assert len(set(files.values())) == len(files), files  # one file per function, none shared
    for name, stage in config["stages"].items():
        # a stage-level policy (or one under stages.<stage>.lambda_functions) would override the per-function files
        assert "iam_policy_file" not in stage, name
        assert not any("iam_policy_file" in f for f in stage.get("lambda_functions", {}).values()), name
        assert stage["environment_variables"]["ONE2ONE_STAGE"] == name
    # nothing falls back to chalice's default `policy-<stage>.json`: a function without a policy cannot be packaged
    stage_defaults = {f"policy-{stage}.json" for stage in config["stages"]}
    assert not [p.name for p in CHALICE.glob("policy-*.json") if p.name in stage_defaults]


def test_no_policy_file_is_left_over_for_a_function_that_does_not_exist():
    used = {_config()["lambda_functions"][f]["iam_policy_file"] for f in _function_names()}
    assert {p.name for p in CHALICE.glob("policy-*.json")} == used


@pytest.mark.parametrize("function", _function_names())
def test_no_wildcard_action_and_wildcard_resources_only_where_iam_allows_nothing_else(function: str):
    from local.provision import load_template

    template_ids = set(load_template()["Resources"])
    statements = _statements(function)
    assert statements
    sids = [s.get("Sid") for s in statements]
    assert len(sids) == len(set(sids)) and all(sids), f"{function}: every statement needs a unique Sid"
    for statement in statements:
        where = f"{function} {statement['Sid']}"
        assert statement["Effect"] == "Allow", where
        assert "NotAction" not in statement and "NotResource" not in statement, where
        actions = _as_list(statement["Action"])
        assert all("*" not in action for action in actions), where
        for resource in _as_list(statement["Resource"]):
            text = _symbolic(resource)
            if "*" in text:
                assert statement["Sid"] in ALLOWED_WILDCARDS, f"{where}: {text}"
                assert set(actions) <= WILDCARD_ACTIONS[statement["Sid"]], where
                continue
            if statement["Sid"] in GLUE_CATALOG and text == f"arn:{PARTITION}:glue:{REGION}:{ACCOUNT}:catalog":
                continue
            if statement["Sid"] in NAMED_BY_THE_STACK:  # no CloudFormation type: named `<stack>-...` by our setup
                assert re.search(NAMED_BY_THE_STACK[statement["Sid"]], text), f"{where}: {text}"
                continue
            # everything else is a resource of this stack, by reference (never a literal ARN or a name pattern)
            referenced = _references(resource)
            assert referenced and referenced <= template_ids, f"{where}: {text} is not a resource of the stack"


@pytest.mark.parametrize("function", _function_names())
def test_logs_are_limited_to_the_functions_own_log_group(function: str):
    [logs] = [s for s in _statements(function) if s["Sid"] == "OwnLogs"]
    assert set(_as_list(logs["Action"])) == {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
    prefix = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/STACK-{_logical_id(function)}-*"
    assert [_symbolic(r) for r in _as_list(logs["Resource"])] == [prefix, f"{prefix}:log-stream:*"]


def test_any_resource_is_only_used_by_xray_sms_and_the_ses_send_rate():
    for function in _function_names():
        for statement in _statements(function):
            if "*" in _as_list(statement["Resource"]):
                assert statement["Sid"] in {"XRayTraceSegments", "SmsToPhoneNumbers", "SesAccountSendRate"}, function


def _event_source_needs(function: str) -> set[tuple[str, str]]:
    """What Lambda's event source mapping does with the function's role: read the stream / poll the queue, and send
    records it gives up on to the streams' failure queue."""
    from app import app

    needs: set[tuple[str, str]] = set()
    for source in app.event_sources:
        if source.name != function:
            continue
        kind = type(source).__name__
        if kind == "DynamoDBEventConfig":
            table = _table_by_name(source.stream_arn.split(":table/")[1].split("/")[0])
            for action in ("DescribeStream", "GetRecords", "GetShardIterator"):
                needs.add((f"dynamodb:{action}", f"{table}/stream"))
            needs.add(("dynamodb:ListStreams", f"{table}/stream/*"))
            needs.add(("sqs:SendMessage", "StreamFailuresQueue"))
        elif kind == "SQSEventConfig":
            queue = _queue_by_name(source.queue)
            for action in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "ChangeMessageVisibility"):
                needs.add((f"sqs:{action}", queue))
        elif kind in ("SNSEventConfig", "CloudWatchEventConfig", "ScheduledEventConfig"):
            # invoked asynchronously: Lambda hands an event that keeps failing to the on-failure queue
            needs.add(("sqs:SendMessage", "AsyncFailuresQueue"))
    return needs


@pytest.mark.parametrize("function", _function_names())
def test_event_source_mappings_can_read_their_stream_or_queue_with_the_functions_role(function: str):
    for action, resource in _event_source_needs(function):
        assert _granted(function, action, resource), f"{function} lacks {action} on {resource}"


@pytest.mark.parametrize("function", _function_names())
def test_xray_and_logs_are_granted(function: str):
    for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"):
        assert _granted(function, action, "*"), function


# --- call coverage: what the code really calls -----------------------------------------------------------------------


def _reverse(mapping: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {default: logical_id for logical_id, (_env, default) in mapping.items()}


def _table_by_name(name: str) -> str:
    from chalicelib.shared.settings import TABLES

    return _reverse(TABLES)[name]


def _queue_by_name(name: str) -> str:
    from chalicelib.shared.settings import QUEUES

    return _reverse(QUEUES)[name]


def _granted(function: str, action: str, resource: str) -> bool:
    for statement in _statements(function):
        if action not in _as_list(statement["Action"]):
            continue
        if any(fnmatch.fnmatchcase(resource, _symbolic(r)) for r in _as_list(statement["Resource"])):
            return True
    return False


_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def _required(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(IAM action, symbolic resource) pairs one API call needs: a coarse operation -> action mapping."""
    from chalicelib.shared.settings import CONFIGURATION_SETS, TOPICS

    if service == "dynamodb":
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", _table_by_name(t)) for t in params["RequestItems"]]
        if operation in ("TransactWriteItems", "TransactGetItems"):
            pairs = []
            for item in params["TransactItems"]:
                [(kind, body)] = item.items()
                action = "GetItem" if kind == "Get" else _TRANSACT[kind]
                pairs.append((f"dynamodb:{action}", _table_by_name(body["TableName"])))
            return pairs
        table = _table_by_name(params["TableName"])
        if params.get("IndexName"):
            table = f"{table}/index/{params['IndexName']}"
        return [(f"dynamodb:{operation}", table)]
    if service == "sqs":
        name = params.get("QueueName") or params["QueueUrl"].rsplit("/", 1)[-1]
        action = "SendMessage" if operation == "SendMessageBatch" else operation
        return [(f"sqs:{action}", _queue_by_name(name))]
    if service == "sns":
        if operation == "Publish" and params.get("PhoneNumber"):
            return [("sns:Publish", "*")]
        if operation == "Publish" and params.get("TargetArn"):  # a push platform endpoint
            return [("sns:Publish", params["TargetArn"])]
        if operation == "CreatePlatformEndpoint":
            return [("sns:CreatePlatformEndpoint", params["PlatformApplicationArn"])]
        if operation == "DeleteEndpoint":
            return [("sns:DeleteEndpoint", params["EndpointArn"])]
        if operation == "Publish":
            return [("sns:Publish", _reverse(TOPICS)[params["TopicArn"].rsplit(":", 1)[-1]])]
        return [(f"sns:{operation}", "*")]
    if service in ("ses", "sesv2") and operation in ("GetAccount", "GetSendQuota"):
        return [(f"ses:{operation}", "*")]  # account-level: no resource type
    if service in ("ses", "sesv2"):
        identity = params.get("FromEmailAddress") or params.get("Source") or ""
        domain = identity.rsplit("@", 1)[-1].strip(">")
        pairs = [(f"ses:{operation}", f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{domain}")]
        if params.get("ConfigurationSetName"):
            config_set = _reverse(CONFIGURATION_SETS)[params["ConfigurationSetName"]]
            pairs.append((f"ses:{operation}", f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/{config_set}"))
        return pairs
    if service == "secretsmanager":
        return [(f"secretsmanager:{operation}", "SigningSecret")]
    if service == "s3" and operation == "ListObjectsV2":
        from chalicelib.shared.settings import BUCKETS

        return [("s3:ListBucket", _reverse(BUCKETS)[params["Bucket"]])]  # listing is authorised on the bucket
    if service == "s3" and params.get("Key"):
        from chalicelib.shared.settings import BUCKETS

        # HEAD is authorised by s3:GetObject, a multipart upload's create/part/complete by s3:PutObject
        multipart = dict.fromkeys(("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"), "PutObject")
        action = {"HeadObject": "GetObject", **multipart}.get(operation, operation)
        return [(f"s3:{action}", f"{_reverse(BUCKETS)[params['Bucket']]}/{params['Key']}")]
    return [(f"{service}:{operation}", "*")]


_current_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("function", default=None)


@pytest.fixture
def recorded_calls(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, str, dict]]]:
    """Every AWS call made while a function runs, as (function, service, operation, params); the app configured as in
    AWS (queue URL and topic ARNs from the environment, the signing key from Secrets Manager)."""
    import botocore.client
    from chalice import Chalice

    from chalicelib import bootstrap
    from chalicelib.delivery.adapters.sns_notify import topic_arn_by_name
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import QUEUES, TOPICS

    for logical_id, (env_var, name) in TOPICS.items():
        monkeypatch.setenv(f"{env_var}_ARN", topic_arn_by_name(name) or "")
    for logical_id, (env_var, name) in QUEUES.items():
        monkeypatch.setenv(f"{env_var}_URL", client("sqs").get_queue_url(QueueName=name)["QueueUrl"])
    from local.push_apps import ensure_local

    # The push platform applications as deployed (`<stack>-push`, created from their secrets by local/push_apps.py)
    # and their ARNs in the environment (local/package.py), so no function has to look them up.
    push_apps = ensure_local(client("sns"), "STACK-push")
    monkeypatch.setenv("ONE2ONE_PUSH_APNS_APPLICATION_ARN", push_apps["apns"])
    monkeypatch.setenv("ONE2ONE_PUSH_FCM_APPLICATION_ARN", push_apps["fcm"])
    secret = client("secretsmanager").create_secret(Name="one2one-signing", SecretString="s3cret-signing-key")
    monkeypatch.delenv("ONE2ONE_SIGNING_KEY", raising=False)
    monkeypatch.setenv("ONE2ONE_SIGNING_SECRET_ARN", secret["ARN"])
    bootstrap.reset()

    calls: list[tuple[str, str, str, dict]] = []
    original_call = botocore.client.BaseClient._make_api_call

    def recording_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        function = _current_function.get()
        if function is not None:
            calls.append((function, self.meta.service_model.service_name, operation_name, dict(api_params)))
        return original_call(self, operation_name, api_params)

    from chalicelib import bootstrap

    last: list[str] = []

    def in_function(name: str, handler: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            if last != [name]:  # each function is its own container: nothing cached by another one is reused
                last[:] = [name]
                bootstrap.reset()
            token = _current_function.set(name)
            try:
                return handler(*args, **kwargs)
            finally:
                _current_function.reset(token)

        return run

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording_call)
    app = world.h.app
    for name, handler in list(app.handler_map.items()):
        if name != "api_handler" and not isinstance(handler, Chalice):
            monkeypatch.setitem(app.handler_map, name, in_function(name, handler))
    public_api, admin_api = in_function("api_handler", Chalice.__call__), in_function("admin_api", Chalice.__call__)

    def by_api(self: Chalice, event: dict[str, Any], context: Any) -> Any:
        # deployed, /admin routes are served by their own function (AdminAPIHandler) with its own role
        route = str((event.get("requestContext") or {}).get("resourcePath", ""))
        served_by = admin_api if route.startswith("/admin") else public_api
        return served_by(self, event, context)

    monkeypatch.setattr(Chalice, "__call__", by_api)
    yield calls


def _get(world: World, path: str, **headers: str) -> Any:
    return world.h.client.http.get(path, headers=headers)


def _drive_push(world: World) -> str:
    """Mobile push: a push scenario defined (admin), two devices registered (api, lifting a retirement), a send that
    creates one endpoint and publishes to it, and one endpoint SNS had disabled, deleted with its token's retirement."""
    from chalicelib.shared.aws import client
    from tests.integration.conftest import ADMIN_TOKEN
    from tests.integration.test_push import SCENARIO, SCENARIO_BODY, TEMPLATE

    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    for path, body in (("template/app_cart_push", TEMPLATE), (f"scenario/{SCENARIO}", SCENARIO_BODY)):
        response = world.h.client.http.put(f"/admin/definitions/{path}", body=json.dumps(body), headers=headers)
        assert response.status_code in (200, 201), response.body
    live, disabled = "ab" * 32, "cd" * 32
    apns = [a for a in client("sns").list_platform_applications()["PlatformApplications"] if "STACK-push" in str(a)]
    arn = next(a["PlatformApplicationArn"] for a in apns if "/APNS/" in a["PlatformApplicationArn"])
    client("sns").create_platform_endpoint(PlatformApplicationArn=arn, Token=disabled, Attributes={"Enabled": "false"})
    push_user = user_in(SCENARIO, 0, holdout=False, prefix="push")
    world.customer(push_user, subscribe=False)
    for token in (live, disabled):
        registration = {"userId": push_user, "token": token, "platform": "ios", "enabled": True}
        assert world.h.post("/v1/devices", registration).status_code == 200
    world.drain()
    world.add_to_cart(push_user)
    return push_user


def _drive_everything(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """One customer's whole life through every function: API, streams, queue, SNS feedback and every schedule."""
    from chalicelib.delivery import templating

    # The packaged cart template links to `cart_url` (a shop setting): give it one. Patched at module level so the
    # delivery service is built (and fetches the signing secret) inside the function that uses it.
    render = templating.render

    def render_with_cart(template: str, profile: Any, extra: dict[str, Any], **kwargs: Any) -> Any:
        return render(template, profile, {**extra, "cart_url": "https://shop.example/cart"}, **kwargs)

    monkeypatch.setattr(templating, "render", render_with_cart)
    admin = world.h.admin
    # sign-up with double opt-in (api: sends the confirmation mail), then tracking and a cart left behind
    world.h.post("/v1/subscribe", {"email": "doi@example.com", "userId": "doi-1", "source": "footer"})
    user = user_in("cart_abandonment", 10, holdout=False)
    world.customer(user, email_address="iam@example.com")
    world.add_to_cart(user, url="https://shop.example/p/sku-1")
    world.h.post("/v1/batch", {"batch": [{"type": "track", "userId": user, "event": "Product Viewed"}]})
    # an anonymous visitor's batch (one group item), then their sign-in: the fold merges them (re-points the group,
    # writes the merge's audit event)
    anonymous = [{"type": "page", "anonymousId": "policy-anon", "name": f"P{n}"} for n in range(2)]
    world.h.post("/v1/batch", {"batch": anonymous})
    world.drain()
    world.h.post("/v1/identify", {"anonymousId": "policy-anon", "userId": user})
    # a device linked in the same fold batch as its anonymous batch: the group joins the person (read, re-pointed)
    world.h.post("/v1/identify", {"anonymousId": "policy-anon-2", "userId": user})
    world.h.post("/v1/batch", {"batch": [{**m, "anonymousId": "policy-anon-2"} for m in anonymous]})
    push_user = _drive_push(world)
    world.drain()
    texts = " ".join(m["text"] for m in world.outbox())
    confirm = re.findall(r"https://shop\.example(/confirm/[A-Za-z0-9._-]+)", texts)
    # the reminder goes out an hour later (schedules release due steps, the queue delivers)
    world.advance(hours=1, minutes=1)
    world.drain()
    sent = [m for m in world.outbox() if "iam@example.com" in m["to"]]
    html = sent[-1]["html"] if sent else ""
    for path in re.findall(r'src="https://shop\.example(/t/o/[^"]+\.gif)"', html):
        _get(world, path, Accept="image/*", **{"User-Agent": "Mozilla/5.0 (Macintosh) Safari/605.1.15"})
    for path in re.findall(r'href="https://shop\.example(/t/c/[^"]+)"', html)[:1]:
        _get(world, path, **{"User-Agent": "Mozilla/5.0 (Macintosh) Safari/605.1.15"})
    for path in re.findall(r'href="https://shop\.example(/preferences/[^"]+)"', html)[:1]:
        _get(world, path)
    for path in confirm[:1]:
        _get(world, path, **{"User-Agent": "Mozilla/5.0 (Macintosh) Safari/605.1.15"})
    if sent:
        unsubscribe = re.search(r"<https://shop\.example(/u/[^>]+)>", sent[-1]["headers"]["List-Unsubscribe"])
        if unsubscribe:
            world.h.client.http.post(
                unsubscribe.group(1),
                body="List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
    # SES feedback through SNS (the pump delivers the topic to ses_feedback)
    from chalicelib.shared.aws import client

    envelope = json.loads((ROOT / "events" / "ses" / "notification_bounce_permanent.json").read_text())
    client("sns").publish(TopicArn=_topic_arn("SesFeedbackTopic"), Message=envelope["Message"])
    world.h.post("/v1/track", {"userId": user, "event": "Order Completed", "properties": {"order_id": "o-1"}})
    # product views and an order teach the similar-items lists; pages read them back (personalize, recommendations)
    for pid in ("sku-1", "sku-2"):
        world.h.post("/v1/track", {"userId": user, "event": "Product Viewed", "properties": {"product_id": pid}})
    order = {"order_id": "o-2", "products": [{"product_id": "sku-2"}, {"product_id": "sku-3"}]}
    world.h.post("/v1/track", {"userId": user, "event": "Order Completed", "properties": order})
    world.drain()
    # the catalog: the shop's backend and the admin API write products, a view notes interest, a stock change fans out
    product = {"id": "cat-1", "name": "Tee", "price": 1900, "currency": "JPY", "stock": 20}
    assert world.h.post("/v1/catalog/products", product).status_code == 200
    world.h.post("/v1/track", {"userId": user, "event": "Product Viewed", "properties": {"product_id": "cat-1"}})
    world.drain()
    auth_json = {"Authorization": "Bearer test-admin-token", "Content-Type": "application/json"}
    low = json.dumps({**product, "stock": 2})
    assert world.h.client.http.put("/admin/catalog/products/cat-1", body=low, headers=auth_json).status_code == 200
    assert world.h.admin("/admin/catalog/products?limit=5").status_code == 200
    sold_out = json.dumps({**product, "stock": 0})  # leaves the recommendations (the out-of-stock list)
    assert world.h.client.http.put("/admin/catalog/products/cat-1", body=sold_out, headers=auth_json).status_code == 200
    world.drain()
    for path in (
        f"/v1/personalize?writeKey=test-write-key&slots=hero,recs&userId={user}",
        "/v1/recommendations?writeKey=test-write-key&anonymousId=someone",
        "/slots.js",
        f"/v1/in-app?writeKey=test-write-key&userId={user}",
        "/inapp.js",
    ):
        assert _get(world, path).status_code < 500, path
    # in-app: a view and a dismissal fold into the person's state and reports (run_scenarios); a scenario step with
    # channel in_app puts a message up (deliver_steps); the admin API saves, lists, reports and archives messages
    for event in ("In-App Message Viewed", "In-App Message Dismissed"):
        props = {"message_id": "free_shipping_banner"}
        world.h.post("/v1/track", {"userId": user, "event": event, "properties": props})
    in_app_step = {
        "id": "policy_in_app",
        "name": "In-app on sign-up",
        "when": {"type": "event", "event": "Policy Checked"},
        "steps": [{"type": "send", "id": "modal", "channel": "in_app", "template": "welcome_unopened"}],
    }
    headers = {"Authorization": "Bearer test-admin-token", "Content-Type": "application/json"}
    saved = world.h.client.http.put(
        "/admin/definitions/scenario/policy_in_app", body=json.dumps(in_app_step), headers=headers
    )
    assert saved.status_code == 201, saved.body
    world.h.post("/v1/track", {"userId": user, "event": "Policy Checked"})
    world.drain()
    shown = _get(world, f"/v1/in-app?writeKey=test-write-key&userId={user}").body
    assert b"welcome_unopened" in shown, shown  # the step ran (its calls were recorded)
    promo = {"kind": "banner", "title": "Policy", "segment": "loyal_top_of_group"}
    assert (
        world.h.client.http.put("/admin/definitions/in_app/policy", body=json.dumps(promo), headers=headers).status_code
        == 201
    )
    for path in ("/admin/in-app", "/admin/in-app/free_shipping_banner/report"):
        assert admin(path).status_code == 200, path
    assert world.h.client.http.post("/admin/in-app/policy/archive", body="{}", headers=headers).status_code == 200
    # the admin API, read and write
    profile_id = user_profile_id(user)
    for path in (
        f"/admin/profiles/{profile_id}?events=20",
        f"/admin/profiles?user_id={user}",
        "/admin/failed-events",
        f"/admin/profiles/{profile_id}/export",
        "/admin/segments",
        "/admin/segments/vip/members",
        "/admin/scenarios",
        f"/admin/templates/cart_reminder/preview?profile_id={profile_id}",
        f"/admin/profiles/{profile_id}/messages",
        "/admin/messages/unknown",
        "/admin/reports/scenarios",
        "/admin/reports/scenarios/cart_abandonment",
        "/admin/reports/daily",
        "/admin/backfills",
        f"/admin/recommendations?profile_id={profile_id}",
        "/admin/recommendations/products/sku-2",
        "/openapi.json",
        "/tracker.js",
    ):
        assert admin(path).status_code < 500, path  # a failed call would hide the calls after it
    auth = {"Authorization": "Bearer test-admin-token", "Content-Type": "application/json"}
    for path, body in (
        ("/admin/messages/retry", {}),
        ("/admin/sources", {"source_id": "app", "allowed_origins": []}),
        ("/admin/segments/cart_abandoners/backfill", {"reason": "policy check"}),
    ):
        assert world.h.client.http.post(path, body=json.dumps(body), headers=auth).status_code < 500, path
    # a broadcast to the customer: drafted, scheduled, paused and resumed (admin), launched and fanned out (below)
    draft = {"name": "Sale", "audience": {"list": ["iam@example.com"]}, "channel": "email", "template": "loyal_thanks"}
    created = world.h.client.http.post("/admin/broadcasts", body=json.dumps(draft), headers=auth)
    assert created.status_code == 201, created.body
    broadcast_id = json.loads(created.body)["id"]
    for action, body in (("schedule", {"at": "now"}), ("pause", {}), ("resume", {})):
        path = f"/admin/broadcasts/{broadcast_id}/{action}"
        assert world.h.client.http.post(path, body=json.dumps(body), headers=auth).status_code == 200, path
    assert admin(f"/admin/broadcasts/{broadcast_id}").status_code == 200
    # an inline-rule broadcast: its hidden segment saved and backfilled (admin), launched when the backfill is done
    # (fire_schedules), retired once walked (fan_out_audience)
    ruled = {**draft, "audience": {"rule": {"field": "traits.plan", "op": "eq", "value": "gold"}}}
    created = world.h.client.http.post("/admin/broadcasts", body=json.dumps(ruled), headers=auth)
    assert created.status_code == 201, created.body
    path = f"/admin/broadcasts/{json.loads(created.body)['id']}/schedule"
    assert world.h.client.http.post(path, body=json.dumps({"at": "now"}), headers=auth).status_code == 200
    # imports: a file uploaded through the admin API, one dropped into the bucket, a Pinpoint export with an
    # opted-out endpoint (a suppression) and a segment list (a definition and its backfill)
    upload = {**auth, "Content-Type": "text/csv"}
    people = "user_id,email\npolicy-1,policy1@example.com\n"
    assert world.h.client.http.post("/admin/imports?kind=people", body=people, headers=upload).status_code == 202
    from chalicelib.shared.settings import resource_name

    endpoint = {"ChannelType": "EMAIL", "Address": "pp@example.com", "OptOut": "ALL", "User": {"UserId": "pp-1"}}
    client("s3").put_object(
        Bucket=resource_name("ImportBucket"), Key="pinpoint/endpoints/part-1.jsonl", Body=json.dumps(endpoint)
    )
    segment = "ChannelType,Address,User.UserId\nEMAIL,pp@example.com,pp-1\n"
    client("s3").put_object(Bucket=resource_name("ImportBucket"), Key="pinpoint/segments/pp-list/a.csv", Body=segment)
    world.drain()
    assert admin("/admin/imports").status_code == 200
    # a segment export (small: written inside the admin request) and the export list
    exported = world.h.client.http.post("/admin/segments/cart_abandoners/exports", body="{}", headers=auth)
    assert exported.status_code == 201, exported.body
    assert admin("/admin/exports").status_code == 200
    monkeypatch.setattr("chalicelib.exports.service.SYNC_MAX_MEMBERS", -1)  # and one through the export queue
    queued = world.h.client.http.post("/admin/segments/cart_abandoners/exports", body="{}", headers=auth)
    assert queued.status_code == 202, queued.body
    world.drain()
    assert admin(json.loads(queued.body)["status_url"]).status_code == 200
    # days pass: lifecycle sweep, cut points and the stuck-message sweep run on their schedules
    for _ in range(3):
        world.advance(days=1)
        world.drain()
    # the similar-items job by hand (it ran after each night's compaction too)
    assert world.h.client.http.post("/admin/recommendations/learn", body="{}", headers=auth).status_code == 200
    # erased as a profile written before it listed its identity keys: the erasure scans the identities table
    from tests.integration.test_privacy_identity_keys import as_legacy

    as_legacy([profile_id])
    assert world.h.client.http.delete(f"/admin/profiles/{profile_id}", headers=auth).status_code < 500
    # and the app user: their devices' platform endpoints and token records go with them
    assert world.h.client.http.delete(f"/admin/profiles/{user_profile_id(push_user)}", headers=auth).status_code == 200
    world.drain()


def _topic_arn(logical_id: str) -> str:
    from chalicelib.delivery.adapters.sns_notify import topic_arn_by_name
    from chalicelib.shared.settings import TOPICS

    return topic_arn_by_name(TOPICS[logical_id][1]) or ""


def test_every_aws_call_a_function_makes_is_granted_by_its_own_policy(
    world: World, recorded_calls: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with the shared sending rate on: its counter writes and the SES account-rate read are calls too
    from chalicelib import bootstrap

    monkeypatch.setenv("ONE2ONE_SEND_RATE_LIMIT", "on")
    bootstrap.reset()
    _drive_everything(world, monkeypatch)

    seen_functions = {function for function, *_ in recorded_calls}
    missing: set[str] = set()
    for function, service, operation, params in recorded_calls:
        for action, resource in _required(service, operation, params):
            if not _granted(function, action, resource):
                missing.add(f"{function}: {action} on {resource}")
    assert not missing, "calls the function's policy does not allow:\n" + "\n".join(sorted(missing))
    # the drive reached the API and every event handler that touches AWS
    assert {
        "api_handler",
        "admin_api",
        "fold_events",
        "run_scenarios",
        "deliver_steps",
        "ses_feedback",
        "backfill_profiles",
        "catalog_changes",
        "catalog_fanout",
        "import_files",
        "export_segments",
    } <= seen_functions
    assert {"lifecycle_sweep", "refresh_cut_points", "release_due_steps", "fire_schedules"} <= seen_functions
    assert "fan_out_audience" in seen_functions
    assert "count_segment_sizes" in seen_functions  # the segment sizes, from the members table's stream
    operations = {(function, operation) for function, _, operation, _ in recorded_calls}
    assert "compact_archive" in seen_functions  # the archive's nightly compaction (its merge and deletes)
    assert ("compact_archive", "GetItem") in operations  # then the similar-items job (its cursor, lists, archive)
    # the event archive: written by the fold, rewritten by the erasure at the end of the drive
    assert {("fold_events", "PutObject"), ("admin_api", "ListObjectsV2"), ("admin_api", "GetObject")} <= operations
    assert ("admin_api", "PutObject") in operations or ("admin_api", "DeleteObject") in operations
    # the CLV job's customer history, read from the archive's objects (the local default; Athena in AWS)
    assert ("fit_predictions", "ListObjectsV2") in operations
    assert ("deliver_steps", "GetSendQuota") in operations  # moto answers v1 only (see delivery/adapters/ses_quota)
    # mobile push: an endpoint created, a publish to it, a disabled one deleted, a retirement lifted
    push_calls = {("deliver_steps", "CreatePlatformEndpoint"), ("deliver_steps", "DeleteEndpoint")}
    assert push_calls <= operations and ("api_handler", "DeleteItem") in operations
    assert ("admin_api", "DeleteEndpoint") in operations  # an erased app user's endpoints
    assert ("admin_api", "Scan") in operations  # the identities of a profile written before it listed them
    assert any(f == "deliver_steps" and o == "Publish" and p.get("TargetArn") for f, _, o, p in recorded_calls)


def test_only_functions_that_sign_or_verify_may_read_the_signing_secret() -> None:
    readers = {
        function
        for function in _function_names()
        if _granted(function, "secretsmanager:GetSecretValue", "SigningSecret")
    }
    # links in mail are verified by the public API, signed by delivery and by the admin API's template preview; the
    # fold and the segment consumer key the erasure pointers of the bad rows they keep (and the fold looks for the
    # hashed tombstone of an identity it has no record of); the import worker ingests like the public API does
    # (hashed tombstones of first-seen ids, erasure pointers of the rows it refuses)
    assert readers == {
        "api_handler",
        "admin_api",
        "deliver_steps",
        "fold_events",
        "update_segment_members",
        "import_files",
    }


def test_the_public_api_cannot_list_export_or_erase_a_profile_and_the_admin_api_cannot_send_mail() -> None:
    # GET /v1/personalize chooses a page's content by rules over the visitor's profile, so the public function reads
    # one profile by its id (Get/BatchGetItem) and answers only the chosen content and product cards, never a
    # profile field; it still cannot list events, export, erase or reach the admin routes.
    assert _granted("api_handler", "dynamodb:BatchGetItem", "ProfilesTable")
    assert not _granted("api_handler", "dynamodb:PutItem", "ProfilesTable")
    for action, resource in (
        ("dynamodb:Query", "EventsTable"),
        ("dynamodb:Query", "FailedEventsTable"),
        ("dynamodb:BatchWriteItem", "SegmentMembersTable"),
        ("dynamodb:Query", "MessagesTable/index/by_attention"),
        ("sqs:SendMessage", "DeliveryQueue"),
    ):
        assert not _granted("api_handler", action, resource), (action, resource)
        assert _granted("admin_api", action, resource), (action, resource)
    assert not _granted("admin_api", "ses:SendRawEmail", f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/shop.example")


def test_signing_key_is_the_env_value_locally_and_read_once_from_secrets_manager_in_aws(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.client

    from chalicelib.shared import secrets, settings
    from chalicelib.shared.aws import client

    arn = client("secretsmanager").create_secret(Name="one2one-signing", SecretString="from-the-secret")["ARN"]
    monkeypatch.setenv("ONE2ONE_SIGNING_SECRET_ARN", arn)
    monkeypatch.setenv("ONE2ONE_SIGNING_KEY", "local-key")
    settings.get_settings.cache_clear()
    assert secrets.signing_key() == "local-key"  # local and tests: the variable wins, no AWS call

    monkeypatch.delenv("ONE2ONE_SIGNING_KEY")
    settings.get_settings.cache_clear()
    secrets.reset()
    calls: list[str] = []
    original_call = botocore.client.BaseClient._make_api_call

    def counting_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        calls.append(operation_name)
        return original_call(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting_call)
    from chalicelib.bootstrap import get_link_settings

    keys = secrets.LazySigningKeys("k1")
    links = get_link_settings()
    assert calls == []  # building what may sign or verify reads nothing
    assert dict(keys) == {"k1": "from-the-secret"} and links.signing_key() == "from-the-secret"
    assert "from-the-secret" not in repr(links)
    assert calls == ["GetSecretValue"]  # once per container

    monkeypatch.delenv("ONE2ONE_SIGNING_SECRET_ARN")
    secrets.reset()
    assert secrets.signing_key() == "" and dict(keys) == {}  # neither configured: signing is off
