"""Post-process `chalice package` output: wire event sources and environment to the resources of infra/resources.json.

* the admin API (a second `chalice package` of the same code with `ONE2ONE_API=admin`, see app.py) is merged in as
  its own REST API, function and role: `AdminRestAPI`, `AdminAPIHandler` (`ONE2ONE_API=admin`, the policy of
  `lambda_functions.admin_api` in .chalice/config.json), so the public function's role cannot read or erase profiles;

Chalice needs literal ARNs in its decorators and cannot set ReportBatchItemFailures, retries or failure destinations,
so `make package` runs `python -m local.package build/package/sam.json` after `chalice package --merge-template`:

* every DynamoDB event source's placeholder `Stream` ARN (see chalicelib/shared/streams.py) becomes
  `{"Fn::GetAtt": [<Table>, "StreamArn"]}` of the table named in it, with partial batch responses, bisection (but for
  NO_BISECT_FUNCTIONS), bounded retries and the `StreamFailuresQueue` as on-failure destination;
* SQS event sources get partial batch responses and, for queues of the template, `{"Fn::GetAtt": [<Queue>, "Arn"]}`
  (the import and export queues also a `ScalingConfig.MaximumConcurrency`, see QUEUE_MAX_CONCURRENCY);
  SNS event sources on topics of the template subscribe to `{"Ref": <Topic>}`;
* every function gets the physical names of the tables, queues, topics and configuration sets that
  `chalicelib.shared.settings` maps, under the environment variable names it reads (see `function_environment`).
  and the signing secret's ARN (`ONE2ONE_SIGNING_SECRET_ARN`).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from local.provision import SETTINGS_MAPPINGS, physical_name

FAILURE_QUEUE = "StreamFailuresQueue"
SIGNING_SECRET = "SigningSecret"  # noqa: S105 - a logical id, not a secret
SIGNING_SECRET_ENV = "ONE2ONE_SIGNING_SECRET_ARN"  # noqa: S105 - a variable name
STREAM_RETRY_ATTEMPTS = 5
# Stream consumers whose retries must start at the first record of the batch that failed: the segment size counter
# marks a counted batch by its first sequence number (segments/sizes.py), so a half of a batch re-delivered on its own
# could be counted again. It has no poison record to isolate either (it reads keys only).
NO_BISECT_FUNCTIONS = ("CountSegmentSizes",)
# A record that keeps failing for a day is given up on (to the failure queue) rather than blocking its shard for the
# stream's 24 h retention.
STREAM_MAX_RECORD_AGE_SECONDS = 86_400


MINIMUM_COMPRESSION_BYTES = 1024
ADMIN_RESERVED_CONCURRENCY = 10  # operators, not visitors: a runaway script cannot take the account's concurrency
ASYNC_FAILURE_QUEUE = "AsyncFailuresQueue"
# numpy + scipy ride in a layer of the one function that fits models: deployment.zip (every other function, the
# tracking API and the fold included) stays as lean as before. `make package` builds the zip beside sam.json.
SCIENTIFIC_LAYER = "ScientificPythonLayer"
SCIENTIFIC_LAYER_ZIP = "./scientific-layer.zip"
SCIENTIFIC_FUNCTIONS = ("FitPredictions",)
ASYNC_EVENT_TYPES = ("SNS", "Schedule")  # Lambda invokes these functions asynchronously
ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE_SECONDS = 6 * 3600
# Deploy-time knobs of the edge (stack parameters), with the defaults a shop of moderate size needs.
PARAMETERS: dict[str, dict[str, Any]] = {
    "ApiRateLimit": {
        "Type": "Number",
        "Default": 1000,
        "MinValue": 1,
        "Description": "Public API stage throttle: steady requests per second (SDKs retry a 429)",
    },
    "ApiBurstLimit": {"Type": "Number", "Default": 2000, "MinValue": 1, "Description": "Public API burst"},
    "AdminApiRateLimit": {"Type": "Number", "Default": 20, "MinValue": 1, "Description": "Admin API requests/s"},
    "AdminApiBurstLimit": {"Type": "Number", "Default": 40, "MinValue": 1, "Description": "Admin API burst"},
    "IngestReservedConcurrency": {
        "Type": "Number",
        "Default": 100,
        "MinValue": 1,
        "Description": "Concurrent executions reserved for (and capping) the public API function",
    },
    "AccessLogs": {
        "Type": "String",
        "AllowedValues": ["true", "false"],
        "Default": "true",
        "Description": "API Gateway access logs (JSON, one line per request) for both APIs",
    },
    "AccessLogRetentionDays": {"Type": "Number", "Default": 90, "Description": "Days access logs are kept"},
    "CreateApiGatewayLoggingRole": {
        "Type": "String",
        "AllowedValues": ["true", "false"],
        "Default": "true",
        "Description": "Set API Gateway's account-wide CloudWatch role (needed once per account and region for access"
        " logs); false when the account already has one",
    },
    "EnableWaf": {
        "Type": "String",
        "AllowedValues": ["true", "false"],
        "Default": "false",
        "Description": "Attach a WAF web ACL with a per-IP rate-based rule to the public API",
    },
    "WafRequestsPer5MinutesPerIp": {
        "Type": "Number",
        "Default": 3000,
        "MinValue": 100,
        "Description": "WAF rate-based rule: requests one IP may send in 5 minutes before it is blocked",
    },
    "ImportMaxConcurrency": {
        "Type": "Number",
        "Default": 50,
        "MinValue": 2,  # SQS event sources accept 2 to 1000
        "MaxValue": 1000,
        "Description": "Import workers running at once (SQS ScalingConfig.MaximumConcurrency): bounds the write rate"
        " a big import puts on the tables and the account's Lambda concurrency it takes",
    },
}
# Queues whose event source is capped (Chalice cannot set ScalingConfig): the import worker writes events at ~430 to
# ~800 rows/s each (bench/imports.py), so 50 workers (~20,000-40,000 writes/s) stay inside what an on-demand table
# absorbs after warm-up and leave the account's default 1,000 concurrent executions to the live traffic; the export
# chain is sequential per export, so 5 bounds how many exports read the profiles table at once.
QUEUE_MAX_CONCURRENCY: dict[str, Any] = {"ImportQueue": {"Ref": "ImportMaxConcurrency"}, "ExportQueue": 5}
CONDITIONS: dict[str, Any] = {
    "AccessLogsOn": {"Fn::Equals": [{"Ref": "AccessLogs"}, "true"]},
    "CreateLoggingRole": {
        "Fn::And": [{"Condition": "AccessLogsOn"}, {"Fn::Equals": [{"Ref": "CreateApiGatewayLoggingRole"}, "true"]}]
    },
    "AccessLogsWithExistingRole": {
        "Fn::And": [{"Condition": "AccessLogsOn"}, {"Fn::Equals": [{"Ref": "CreateApiGatewayLoggingRole"}, "false"]}]
    },
    "WafOn": {"Fn::Equals": [{"Ref": "EnableWaf"}, "true"]},
}
# No source IP: the product anonymises IPs before storing anything, and WAF (not logs) is what acts on them.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "requestTime": "$context.requestTime",
        "method": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "userAgent": "$context.identity.userAgent",
        "caller": "$context.identity.caller",
    },
    separators=(",", ":"),
)

# checkov findings that are decisions, not oversights: (check, resource types it is skipped on, the one-line reason).
# Written into each resource's Metadata, where checkov reads skips; `make checkov` fails on anything else.
CHECKOV_SKIPS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "CKV_AWS_117",
        ("AWS::Serverless::Function",),
        "no VPC resources are reached; a VPC would add NAT cost and cold start",
    ),
    (
        "CKV_AWS_116",
        ("AWS::Serverless::Function",),
        "streams and queues have on-failure destinations, async functions EventInvokeConfig, APIs are synchronous",
    ),
    (
        "CKV_AWS_115",
        ("AWS::Serverless::Function",),
        "stream and queue consumers are bounded by shards and batch settings; only the APIs take unbounded traffic",
    ),
    (
        "CKV_AWS_173",
        ("AWS::Serverless::Function",),
        "variables hold resource names only; the signing key is read from Secrets Manager at run time",
    ),
    (
        "CKV_AWS_119",
        ("AWS::DynamoDB::Table",),
        "encrypted at rest with the AWS-owned key (SSESpecification); a customer key is a deployment choice",
    ),
    ("CKV_AWS_149", ("AWS::SecretsManager::Secret",), "encrypted with the account's aws/secretsmanager key"),
    (
        "CKV_AWS_158",
        ("AWS::Logs::LogGroup",),
        "access logs carry no personal data: no IP, no body, no query",
    ),
    (
        "CKV_AWS_18",
        ("AWS::S3::Bucket",),
        "the import bucket holds operators' uploads for 30 days and the archive bucket is written by the stack only; "
        "object access is audited by CloudTrail data events (a deployment choice), and a server-access-log bucket "
        "would be another bucket to secure",
    ),
    (
        "CKV_AWS_27",
        ("AWS::SQS::Queue",),
        "encrypted at rest with SSE-SQS (SqsManagedSseEnabled), which the check ignores",
    ),
    (
        "CKV_AWS_26",
        ("AWS::SNS::Topic",),
        "SES cannot publish to a topic under the AWS-managed SNS key; a customer key is a deployment choice",
    ),
    ("CKV_AWS_120", ("AWS::Serverless::Api",), "tracking POSTs and signed one-time links are not cacheable"),
    (
        "CKV_AWS_76",
        ("AWS::Serverless::Api",),
        "access logs are on by default through the AccessLogs parameter (Fn::If)",
    ),
    (
        "CKV_AWS_95",
        ("AWS::ApiGatewayV2::Stage",),
        "access logs are on by default through the AccessLogs parameter (Fn::If)",
    ),
    ("CKV_AWS_111", ("AWS::IAM::Role",), "sns:Publish to a phone number has no resource ARN (DeliverSteps' SMS only)"),
    (
        "CKV_AWS_258",
        ("AWS::Lambda::Url",),
        "the tracking endpoint is public like the APIs' tracking routes: the app checks each source's write key",
    ),
)

# Resources of the admin packaging that make up its API, and the names they take in the merged template.
ADMIN_RESOURCES = {
    "RestAPI": "AdminRestAPI",
    "APIHandler": "AdminAPIHandler",
    "ApiHandlerRole": "AdminApiHandlerRole",
    "APIHandlerInvokePermission": "AdminAPIHandlerInvokePermission",
}
ADMIN_FUNCTION = "admin_api"  # its key in .chalice/config.json lambda_functions (timeout, policy file)


class PackageError(RuntimeError):
    """The template cannot be patched safely (an event source names a table or queue the template lacks)."""


def _mapped(template: dict[str, Any], resource_type: str) -> dict[str, str]:
    """Logical id -> environment variable, for the template's resources that `chalicelib.shared.settings` maps."""
    from chalicelib.shared import settings

    mapping = getattr(settings, SETTINGS_MAPPINGS[resource_type], None) or {}
    resources = template["Resources"]
    return {
        logical_id: env_var
        for logical_id, (env_var, _default) in mapping.items()
        if resources.get(logical_id, {}).get("Type") == resource_type
    }


def _by_local_name(template: dict[str, Any], resource_type: str) -> dict[str, str]:
    """Local physical name -> logical id (the names the placeholder ARNs and queue decorators use)."""
    return {
        physical_name(logical_id, resource_type, body.get("Properties")): logical_id
        for logical_id, body in template["Resources"].items()
        if body.get("Type") == resource_type
    }


def function_environment(template: dict[str, Any]) -> dict[str, Any]:
    """The variables `shared.settings` reads, as CloudFormation values: physical names, plus URL/ARN companions.

    Names everywhere (the app resolves names the same way locally and in AWS); a queue also gets `<VAR>_URL` and a
    topic `<VAR>_ARN`, which spare the function a GetQueueUrl / ListTopics call on a cold start.
    """
    environment: dict[str, Any] = {}
    for logical_id, env_var in _mapped(template, "AWS::DynamoDB::Table").items():
        environment[env_var] = {"Ref": logical_id}
    for logical_id, env_var in _mapped(template, "AWS::SQS::Queue").items():
        environment[env_var] = {"Fn::GetAtt": [logical_id, "QueueName"]}
        environment[f"{env_var}_URL"] = {"Ref": logical_id}
    for logical_id, env_var in _mapped(template, "AWS::SNS::Topic").items():
        environment[env_var] = {"Fn::GetAtt": [logical_id, "TopicName"]}
        environment[f"{env_var}_ARN"] = {"Ref": logical_id}
    for logical_id, env_var in _mapped(template, "AWS::S3::Bucket").items():
        environment[env_var] = {"Ref": logical_id}
    for resource_type in ("AWS::Athena::WorkGroup", "AWS::Glue::Database"):
        for logical_id, env_var in _mapped(template, resource_type).items():
            environment[env_var] = {"Ref": logical_id}
    for resource_type in ("AWS::SES::ConfigurationSet", "AWS::SESV2::ConfigurationSet"):
        for logical_id, env_var in _mapped(template, resource_type).items():
            environment[env_var] = {"Ref": logical_id}
    # The link / unsubscribe signing key: functions read the secret lazily (shared/secrets.py); Ref is its ARN.
    if template["Resources"].get(SIGNING_SECRET, {}).get("Type") == "AWS::SecretsManager::Secret":
        environment[SIGNING_SECRET_ENV] = {"Ref": SIGNING_SECRET}
    # Mobile push: the platform applications local/push_apps.py creates as `<stack>-push` (no CloudFormation type
    # exists). An APNs sandbox app: set ONE2ONE_PUSH_APNS_APPLICATION_ARN to its `app/APNS_SANDBOX/...` ARN instead.
    if "PushApnsCredentials" in template["Resources"]:
        app = "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:app/%s/${AWS::StackName}-push"
        environment["ONE2ONE_PUSH_APNS_APPLICATION_ARN"] = {"Fn::Sub": app % "APNS"}
        environment["ONE2ONE_PUSH_FCM_APPLICATION_ARN"] = {"Fn::Sub": app % "GCM"}
    return environment


def _table_for_stream(arn: Any, tables: dict[str, str]) -> str:
    if not isinstance(arn, str):
        raise PackageError(f"DynamoDB event source Stream is not a placeholder ARN: {arn!r}")
    match = re.search(r":table/([^/]+)/stream/", arn)
    if not match or match.group(1) not in tables:
        raise PackageError(f"no table in the template for stream {arn} (known: {sorted(tables)})")
    return tables[match.group(1)]


def patch_template(template: dict[str, Any]) -> dict[str, Any]:
    """Patch a `chalice package` SAM template in place (and return it). Idempotent.

    Example
    -------
    >>> sam = json.loads(Path("build/package/sam.json").read_text())
    >>> patch_template(sam)["Resources"]["FoldEvents"]["Properties"]["Events"]
    """
    resources: dict[str, Any] = template["Resources"]
    tables = _by_local_name(template, "AWS::DynamoDB::Table")
    queues = _by_local_name(template, "AWS::SQS::Queue")
    topics = _by_local_name(template, "AWS::SNS::Topic")
    environment = function_environment(template)

    for logical_id, body in resources.items():
        if body.get("Type") != "AWS::Serverless::Function":
            continue
        props = body["Properties"]
        variables = props.setdefault("Environment", {}).setdefault("Variables", {})
        variables.update(environment)
        props["LoggingConfig"] = logging_config(variables, logical_id)
        for event in props.get("Events", {}).values():
            if event.get("Type") == "DynamoDB":
                _patch_stream_event(
                    event["Properties"], tables, resources, bisect=logical_id not in NO_BISECT_FUNCTIONS
                )
            elif event.get("Type") == "SQS":
                _patch_queue_event(event["Properties"], queues)
            elif event.get("Type") == "SNS":
                _patch_topic_event(event["Properties"], topics)
        if any(event.get("Type") in ASYNC_EVENT_TYPES for event in props.get("Events", {}).values()):
            _patch_async_function(props, resources)
    _add_scientific_layer(resources)
    harden_edge(template)
    return template


def _add_scientific_layer(resources: dict[str, Any]) -> None:
    """Give the model-fitting function its numpy/scipy layer (and only it)."""
    users = [name for name in SCIENTIFIC_FUNCTIONS if name in resources]
    if not users:
        return
    resources[SCIENTIFIC_LAYER] = {
        "Type": "AWS::Serverless::LayerVersion",
        "Properties": {
            "Description": "numpy and scipy for the CLV fitting job (requirements-predictions.txt)",
            "ContentUri": SCIENTIFIC_LAYER_ZIP,
            "CompatibleRuntimes": ["python3.11"],
            "RetentionPolicy": "Delete",
        },
    }
    for name in users:
        resources[name]["Properties"]["Layers"] = [{"Ref": SCIENTIFIC_LAYER}]


def _patch_async_function(props: dict[str, Any], resources: dict[str, Any]) -> None:
    """An asynchronously invoked function (SNS, schedules) retries twice, then hands the event to a queue: a bounce
    notification that keeps failing is kept for replay instead of being dropped (and its address never suppressed)."""
    if ASYNC_FAILURE_QUEUE not in resources:
        raise PackageError(f"{ASYNC_FAILURE_QUEUE} (async functions' on-failure destination) is missing")
    props["EventInvokeConfig"] = {
        "MaximumRetryAttempts": ASYNC_RETRY_ATTEMPTS,
        "MaximumEventAgeInSeconds": ASYNC_MAX_EVENT_AGE_SECONDS,
        "DestinationConfig": {
            "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": [ASYNC_FAILURE_QUEUE, "Arn"]}},
        },
    }


def _throttle(rate: str, burst: str) -> list[dict[str, Any]]:
    return [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": {"Ref": rate},
            "ThrottlingBurstLimit": {"Ref": burst},
        }
    ]


def harden_edge(template: dict[str, Any]) -> None:
    """Stage throttles on both APIs, JSON access logs, reserved concurrency for ingest and an optional WAF rate rule,
    each a stack parameter (PARAMETERS). Idempotent."""
    template.setdefault("Parameters", {}).update(PARAMETERS)
    template.setdefault("Conditions", {}).update(CONDITIONS)
    resources: dict[str, Any] = template["Resources"]
    resources["ApiGatewayLoggingRole"] = {
        "Type": "AWS::IAM::Role",
        "Condition": "CreateLoggingRole",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "apigateway.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "ManagedPolicyArns": [
                {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}
            ],
        },
    }
    resources["ApiGatewayAccount"] = {
        "Type": "AWS::ApiGateway::Account",
        "Condition": "CreateLoggingRole",
        "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayLoggingRole", "Arn"]}},
    }
    # Two log groups, so the one a stage writes to exists only after the account role (when the stack sets it).
    log_group = {"RetentionInDays": {"Ref": "AccessLogRetentionDays"}}
    resources["ApiAccessLogs"] = {
        "Type": "AWS::Logs::LogGroup",
        "Condition": "CreateLoggingRole",
        "DependsOn": "ApiGatewayAccount",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": dict(log_group),
    }
    resources["ApiAccessLogsExistingRole"] = {
        "Type": "AWS::Logs::LogGroup",
        "Condition": "AccessLogsWithExistingRole",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": dict(log_group),
    }
    access_log = {
        "Fn::If": [
            "AccessLogsOn",
            {
                "DestinationArn": {
                    "Fn::If": [
                        "CreateLoggingRole",
                        {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]},
                        {"Fn::GetAtt": ["ApiAccessLogsExistingRole", "Arn"]},
                    ]
                },
                "Format": ACCESS_LOG_FORMAT,
            },
            {"Ref": "AWS::NoValue"},
        ]
    }
    for api, (rate, burst) in (
        ("RestAPI", ("ApiRateLimit", "ApiBurstLimit")),
        ("AdminRestAPI", ("AdminApiRateLimit", "AdminApiBurstLimit")),
    ):
        if api in resources:
            resources[api]["Properties"]["MethodSettings"] = _throttle(rate, burst)
            resources[api]["Properties"]["AccessLogSetting"] = access_log
    if "APIHandler" in resources:
        resources["APIHandler"]["Properties"]["ReservedConcurrentExecutions"] = {"Ref": "IngestReservedConcurrency"}
    if "AdminAPIHandler" in resources:
        resources["AdminAPIHandler"]["Properties"]["ReservedConcurrentExecutions"] = ADMIN_RESERVED_CONCURRENCY
    for api in ("RestAPI", "AdminRestAPI"):
        if api in resources:
            resources[api]["Properties"]["TracingEnabled"] = True
    if "RestAPI" in resources:
        # Per API Gateway's documentation it then inflates gzip/deflate request bodies itself (not tried: no AWS
        # here); the app's own decoder (api/http.decoded_body) covers the local stack and bodies that arrive still
        # compressed, and passes an already inflated body through.
        resources["RestAPI"]["Properties"]["MinimumCompressionSize"] = MINIMUM_COMPRESSION_BYTES
    if "RestAPI" in resources:
        _add_waf(resources)
    if "APIHandler" in resources:
        add_tracking_http_api(template)
        add_tracking_function_url(template)
    _skip_checkov_decisions(resources)


# The tracking routes the HTTP API serves: each route key is the Chalice route's own path, because Chalice finds the
# view by `requestContext.resourcePath`, which payload format 1.0 fills with the matched route's path. OPTIONS is a
# route too (the app answers preflights itself, per source origin), so the API has no CorsConfiguration: with one,
# API Gateway would answer every preflight itself, for any origin.
TRACKING_HTTP_ROUTES = (
    "POST /v1/{kind}",
    "OPTIONS /v1/{kind}",
    "POST /beacon/v1/{kind}",
    "GET /v1/pixel/{kind}",
    # RudderStack's browser SDK reads its settings from its data plane (this API) before it sends anything.
    "GET /sourceConfig",
    "OPTIONS /sourceConfig",
    # What else the SDKs and tracker.js call on the host they track to: apps register push tokens; pages fetch their
    # in-app messages, personalised slots and recommendations; people subscribe (email, SMS code); a shop's feed sends
    # its catalog. Literal paths: the HTTP API hands Chalice the matched route's path, so `/v1/devices` must not be
    # matched by `POST /v1/{kind}`.
    "POST /v1/devices",
    "POST /v1/devices/unregister",
    "GET /v1/in-app",
    "OPTIONS /v1/in-app",
    "GET /v1/personalize",
    "OPTIONS /v1/personalize",
    "GET /v1/recommendations",
    "OPTIONS /v1/recommendations",
    "POST /v1/subscribe",
    "OPTIONS /v1/subscribe",
    "POST /v1/catalog/products",
    "POST /v1/subscribe/sms",
    "OPTIONS /v1/subscribe/sms",
    "POST /v1/subscribe/sms/confirm",
    "OPTIONS /v1/subscribe/sms/confirm",
)
HTTP_ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "method": "$context.httpMethod",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationError": "$context.integrationErrorMessage",
        "userAgent": "$context.identity.userAgent",
    },
    separators=(",", ":"),
)


def add_tracking_http_api(template: dict[str, Any]) -> None:
    """An API Gateway HTTP API in front of the public function for the tracking routes (the SDKs' endpoint).

    Why: an HTTP API costs $1.00 per million requests against a REST API's $3.50, and a request carrying one event is
    most of tracking traffic. Chalice only makes REST APIs, so this is added here, beside that API's own hardening;
    it cannot live in infra/resources.json, which is linted alone and knows no `APIHandler`. The integration uses
    payload format 1.0, which has the REST API's event shape, so the same Chalice app serves both (tests/integration/
    test_http_api_payload.py feeds it real payload-1.0 events). The REST API stays: the links in mail, assets and
    the OpenAPI document are served there, and it is the endpoint to use with the WAF rule (`EnableWaf`), since
    AWS WAF cannot be attached to an HTTP API. Same stage throttle and access logs as the REST API. Idempotent.
    """
    resources: dict[str, Any] = template["Resources"]
    api = {"Ref": "TrackingHttpApi"}
    resources["TrackingHttpApi"] = {
        "Type": "AWS::ApiGatewayV2::Api",
        "Properties": {
            "Name": {"Fn::Sub": "${AWS::StackName}-tracking"},
            "Description": "one2one tracking (Segment-compatible /v1, beacon and pixel): the SDKs' endpoint",
            "ProtocolType": "HTTP",
        },
    }
    resources["TrackingHttpApiIntegration"] = {
        "Type": "AWS::ApiGatewayV2::Integration",
        "Properties": {
            "ApiId": api,
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": {"Fn::GetAtt": ["APIHandler", "Arn"]},
            "PayloadFormatVersion": "1.0",
            "TimeoutInMillis": 29_000,
        },
    }
    for route_key in TRACKING_HTTP_ROUTES:
        resources[_route_logical_id(route_key)] = {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": api,
                "RouteKey": route_key,
                # The write key (HTTP Basic, body or query, as Segment's API takes it) is checked by the app.
                "AuthorizationType": "NONE",
                "Target": {"Fn::Sub": "integrations/${TrackingHttpApiIntegration}"},
            },
        }
    resources["TrackingHttpApiAccessLogs"] = {
        "Type": "AWS::Logs::LogGroup",
        "Condition": "AccessLogsOn",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {"RetentionInDays": {"Ref": "AccessLogRetentionDays"}},
    }
    resources["TrackingHttpApiStage"] = {
        "Type": "AWS::ApiGatewayV2::Stage",
        "Properties": {
            "ApiId": api,
            "StageName": "$default",
            "AutoDeploy": True,
            "DefaultRouteSettings": {
                "ThrottlingRateLimit": {"Ref": "ApiRateLimit"},
                "ThrottlingBurstLimit": {"Ref": "ApiBurstLimit"},
            },
            "AccessLogSettings": {
                "Fn::If": [
                    "AccessLogsOn",
                    {
                        "DestinationArn": {"Fn::GetAtt": ["TrackingHttpApiAccessLogs", "Arn"]},
                        "Format": HTTP_ACCESS_LOG_FORMAT,
                    },
                    {"Ref": "AWS::NoValue"},
                ]
            },
        },
    }
    resources["TrackingHttpApiInvokePermission"] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": "APIHandler"},
            "Principal": "apigateway.amazonaws.com",
            # This API only: any stage, method and route of it, no other API of the account.
            "SourceArn": {
                "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${TrackingHttpApi}/*"
            },
        },
    }
    template.setdefault("Outputs", {})["TrackingEndpointURL"] = {
        "Description": "Point the tracking SDKs here (HTTP API); EndpointURL (REST) serves the same routes",
        "Value": {"Fn::Sub": "https://${TrackingHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"},
    }


# The public function's handler: app.py's `public_handler` serves its function URL's requests (payload 2.0) and hands
# API Gateway's events to the Chalice app unchanged (chalicelib/api/function_url.py).
PUBLIC_HANDLER = "app.public_handler"


def add_tracking_function_url(template: dict[str, Any]) -> None:
    """A Lambda function URL on the public function: the cheapest endpoint for the SDKs (nothing beyond the invocation,
    against the HTTP API's $1.00 per million requests), output as `TrackingFunctionURL`.

    AuthType NONE: the write key is public by design (it ships in every page) and the app checks it, as behind the
    APIs. No `Cors` on the URL, as none on the HTTP API: Lambda would then answer every preflight itself from one
    static list and override the app's headers, while each source has its own origin allow-list (stored data, not
    template); the app answers OPTIONS itself. Only the SDK-facing routes are reachable (a 404 for any other path,
    chalicelib/api/function_url.py). The function's reserved concurrency (`IngestReservedConcurrency`) is this
    endpoint's throttle. Since October 2025 a function URL needs both lambda:InvokeFunctionUrl and
    lambda:InvokeFunction (the latter only through the URL) in the function's policy. Idempotent.
    """
    resources: dict[str, Any] = template["Resources"]
    resources["APIHandler"]["Properties"]["Handler"] = PUBLIC_HANDLER
    resources["TrackingFunctionUrl"] = {
        "Type": "AWS::Lambda::Url",
        "Properties": {"TargetFunctionArn": {"Fn::GetAtt": ["APIHandler", "Arn"]}, "AuthType": "NONE"},
    }
    resources["TrackingFunctionUrlPermission"] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunctionUrl",
            "FunctionName": {"Ref": "APIHandler"},
            "Principal": "*",
            "FunctionUrlAuthType": "NONE",
        },
    }
    resources["TrackingFunctionUrlInvokePermission"] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": "APIHandler"},
            "Principal": "*",
            "InvokedViaFunctionUrl": True,  # through the URL only, never a direct Invoke
        },
    }
    # The URL ends with "/": output it without, like TrackingEndpointURL, so an SDK's "/v1/batch" is not "//v1/batch".
    host = {"Fn::Select": [2, {"Fn::Split": ["/", {"Fn::GetAtt": ["TrackingFunctionUrl", "FunctionUrl"]}]}]}
    template.setdefault("Outputs", {})["TrackingFunctionURL"] = {
        "Description": "Point the tracking SDKs here (Lambda function URL, the cheapest endpoint); TrackingEndpointURL"
        " (HTTP API) and EndpointURL (REST) serve the same routes",
        "Value": {"Fn::Join": ["", ["https://", host]]},
    }


# Lambda's advanced logging controls on every function. SystemLogLevel WARN: Lambda writes none of its INFO-level
# platform lines (START, END and REPORT, ~300 bytes per invocation: $0.14 per million invocations at CloudWatch Logs'
# ingestion price); duration, errors and throttles stay in the function's CloudWatch metrics. Level filtering needs
# the JSON format; the app's own lines are Powertools JSON already (Lambda passes JSON lines through, reading their
# "level"). bench/cost.py bills the platform lines from this, per function: change a level here and the bill follows.
SYSTEM_LOG_LEVEL = "WARN"
SYSTEM_LOG_LEVELS: dict[str, str] = {}  # a function (logical id) that should keep its platform lines: "INFO"


def logging_config(variables: dict[str, Any], logical_id: str = "") -> dict[str, str]:
    """A function's LoggingConfig. The application level follows the stage's POWERTOOLS_LOG_LEVEL (Powertools defers
    to Lambda's: AWS_LAMBDA_LOG_LEVEL wins), DEBUG or INFO and never above: Lambda reads a level it does not know as
    INFO, and Python's "WARNING" is not one of Lambda's (WARN), so a WARN filter could drop the app's warnings."""
    level = variables.get("POWERTOOLS_LOG_LEVEL")
    return {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "DEBUG" if isinstance(level, str) and level.upper() == "DEBUG" else "INFO",
        "SystemLogLevel": SYSTEM_LOG_LEVELS.get(logical_id, SYSTEM_LOG_LEVEL),
    }


def _route_logical_id(route_key: str) -> str:
    method, path = route_key.split(" ", 1)
    words = re.findall(r"[A-Za-z0-9]+", path)
    return "TrackingHttpRoute" + method.title() + "".join(w[:1].upper() + w[1:] for w in words)


def _skip_checkov_decisions(resources: dict[str, Any]) -> None:
    for body in resources.values():
        skips = [
            {"id": check, "comment": reason} for check, types, reason in CHECKOV_SKIPS if body.get("Type") in types
        ]
        if skips:
            body.setdefault("Metadata", {})["checkov"] = {"skip": skips}


def _add_waf(resources: dict[str, Any]) -> None:
    resources["PublicApiWebAcl"] = {
        "Type": "AWS::WAFv2::WebACL",
        "Condition": "WafOn",
        "Properties": {
            "Scope": "REGIONAL",
            "DefaultAction": {"Allow": {}},
            "VisibilityConfig": {
                "SampledRequestsEnabled": True,
                "CloudWatchMetricsEnabled": True,
                "MetricName": "one2one-public-api",
            },
            "Rules": [
                {
                    "Name": "rate-per-ip",
                    "Priority": 0,
                    "Action": {"Block": {}},
                    "Statement": {
                        "RateBasedStatement": {
                            "Limit": {"Ref": "WafRequestsPer5MinutesPerIp"},
                            "AggregateKeyType": "IP",
                        }
                    },
                    "VisibilityConfig": {
                        "SampledRequestsEnabled": True,
                        "CloudWatchMetricsEnabled": True,
                        "MetricName": "one2one-rate-per-ip",
                    },
                }
            ],
        },
    }
    stage = resources["RestAPI"]["Properties"].get("StageName", "api")
    resources["PublicApiWebAclAssociation"] = {
        "Type": "AWS::WAFv2::WebACLAssociation",
        "Condition": "WafOn",
        "DependsOn": f"RestAPI{stage}Stage",  # the stage SAM generates for the API
        "Properties": {
            "ResourceArn": {
                "Fn::Sub": f"arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::/restapis/${{RestAPI}}/stages/{stage}"
            },
            "WebACLArn": {"Fn::GetAtt": ["PublicApiWebAcl", "Arn"]},
        },
    }


def _patch_stream_event(
    props: dict[str, Any], tables: dict[str, str], resources: dict[str, Any], *, bisect: bool = True
) -> None:
    if not (isinstance(props["Stream"], dict) and "Fn::GetAtt" in props["Stream"]):
        props["Stream"] = {"Fn::GetAtt": [_table_for_stream(props["Stream"], tables), "StreamArn"]}
    props["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    props["BisectBatchOnFunctionError"] = bisect
    props["MaximumRetryAttempts"] = STREAM_RETRY_ATTEMPTS
    props["MaximumRecordAgeInSeconds"] = STREAM_MAX_RECORD_AGE_SECONDS
    if FAILURE_QUEUE not in resources:
        raise PackageError(
            f"{FAILURE_QUEUE} (the streams' on-failure destination) is missing from infra/resources.json"
        )
    props["DestinationConfig"] = {
        "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": [FAILURE_QUEUE, "Arn"]}},
    }


def _arn_name(value: Any) -> str | None:
    """The last `:`-separated part of a literal ARN or of the `Fn::Sub` ARN chalice writes for a name."""
    text = value if isinstance(value, str) else (value or {}).get("Fn::Sub") if isinstance(value, dict) else None
    return text.rsplit(":", 1)[-1] if isinstance(text, str) else None


def _patch_queue_event(props: dict[str, Any], queues: dict[str, str]) -> None:
    props["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    name = _arn_name(props.get("Queue"))
    if name in queues:
        props["Queue"] = {"Fn::GetAtt": [queues[name], "Arn"]}
    queue = (
        props["Queue"]["Fn::GetAtt"][0]
        if isinstance(props.get("Queue"), dict) and "Fn::GetAtt" in props["Queue"]
        else None
    )
    if queue in QUEUE_MAX_CONCURRENCY:
        props["ScalingConfig"] = {"MaximumConcurrency": QUEUE_MAX_CONCURRENCY[queue]}


def _patch_topic_event(props: dict[str, Any], topics: dict[str, str]) -> None:
    # CloudFormation names the template's topics itself: subscribe to the real one, not to its local name.
    name = _arn_name(props.get("Topic"))
    if name in topics:
        props["Topic"] = {"Ref": topics[name]}


def _renamed(value: Any, names: dict[str, str]) -> Any:
    """`value` with every reference (Ref, Fn::GetAtt, ${Name} / ${Name.Attr} in Fn::Sub) to `names` renamed."""
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, inner in value.items():
        if key == "Ref" and inner in names:
            out[key] = names[inner]
        elif key == "Fn::GetAtt" and isinstance(inner, list) and inner and inner[0] in names:
            out[key] = [names[inner[0]], *inner[1:]]
        elif key == "Fn::Sub":
            pattern = re.compile(r"\$\{(" + "|".join(map(re.escape, names)) + r")([.}])")
            rename = lambda m: "${" + names[m.group(1)] + m.group(2)  # noqa: E731
            out[key] = (
                pattern.sub(rename, inner)
                if isinstance(inner, str)
                else [pattern.sub(rename, inner[0]), *_renamed(inner[1:], names)]
            )
        else:
            out[key] = _renamed(inner, names)
    return out


def merge_admin_api(
    template: dict[str, Any], admin: dict[str, Any], admin_policy: dict[str, Any], admin_timeout: int
) -> dict[str, Any]:
    """Add the admin packaging's REST API, function, role and invoke permission to `template`, renamed (see
    ADMIN_RESOURCES), with its role's policy replaced by `admin_policy`, its own timeout and `ONE2ONE_API=admin`
    (the public function gets `ONE2ONE_API=public`). Idempotent."""
    resources = template["Resources"]
    for old, new in ADMIN_RESOURCES.items():
        if old not in admin["Resources"]:
            raise PackageError(f"the admin packaging has no {old}: was it packaged with ONE2ONE_API=admin?")
        resources[new] = _renamed(admin["Resources"][old], ADMIN_RESOURCES)
    paths = resources["AdminRestAPI"]["Properties"]["DefinitionBody"]["paths"]
    public_paths = resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    if not paths or not all(path.startswith("/admin") for path in paths):
        raise PackageError(f"the admin API must serve /admin routes only: {sorted(paths)}")
    if any(path.startswith("/admin") for path in public_paths):
        raise PackageError("the public API serves /admin routes: package it with ONE2ONE_API=public")
    for policy in resources["AdminApiHandlerRole"]["Properties"].get("Policies", []):
        policy["PolicyDocument"] = admin_policy
    resources["AdminAPIHandler"]["Properties"]["Timeout"] = admin_timeout
    for logical_id, api in (("APIHandler", "public"), ("AdminAPIHandler", "admin")):
        variables = resources[logical_id]["Properties"].setdefault("Environment", {}).setdefault("Variables", {})
        variables["ONE2ONE_API"] = api
    template.setdefault("Outputs", {})["AdminEndpointURL"] = {
        "Value": _renamed(admin["Outputs"]["EndpointURL"]["Value"], ADMIN_RESOURCES)
    }
    wire_console(template)
    return template


# The console's Cognito authorizer: Chalice needs a literal ARN (chalicelib/api/console/routes.py); the template's
# user pool takes its place here.
CONSOLE_POOL = "ConsoleUserPool"
CONSOLE_POOL_PLACEHOLDER = "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_ConsoleUserPool"
CONSOLE_STATIC_PATH = "/console-static"  # the assets' key prefix in ConsoleAssetsBucket and CloudFront's path


def wire_console(template: dict[str, Any]) -> None:
    """Point the admin API's console authorizer at the stack's user pool, and tell the admin function where the
    hosted UI is and where the console's assets are served. Without the pool (or the authorizer) nothing changes."""
    resources = template["Resources"]
    if CONSOLE_POOL not in resources or "AdminRestAPI" not in resources:
        return
    definitions = resources["AdminRestAPI"]["Properties"]["DefinitionBody"].get("securityDefinitions", {})
    wired = 0
    for definition in definitions.values():
        authorizer = definition.get("x-amazon-apigateway-authorizer", {})
        if CONSOLE_POOL_PLACEHOLDER in authorizer.get("providerARNs", []):
            authorizer["providerARNs"] = [{"Fn::GetAtt": [CONSOLE_POOL, "Arn"]}]
            wired += 1
    if not wired:
        raise PackageError(
            "the admin API has no console Cognito authorizer: package it with ONE2ONE_CONSOLE_AUTHORIZER"
        )
    variables = resources["AdminAPIHandler"]["Properties"].setdefault("Environment", {}).setdefault("Variables", {})
    variables["ONE2ONE_CONSOLE_USER_POOL_ID"] = {"Ref": CONSOLE_POOL}
    variables["ONE2ONE_CONSOLE_AUTH_DOMAIN"] = {
        "Fn::Sub": "${ConsoleUserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"
    }
    variables["ONE2ONE_CONSOLE_STATIC_URL"] = CONSOLE_STATIC_PATH
    outputs = template.setdefault("Outputs", {})
    outputs["ConsoleURL"] = {"Value": {"Fn::Sub": "https://${ConsoleDistribution.DomainName}/admin/console"}}
    outputs["ConsoleUserPoolId"] = {"Value": {"Ref": CONSOLE_POOL}}
    outputs["ConsoleAssetsBucketName"] = {"Value": {"Ref": "ConsoleAssetsBucket"}}


def admin_function_settings(project: Path) -> tuple[dict[str, Any], int]:
    """The admin function's policy document and timeout, from `lambda_functions.admin_api` in .chalice/config.json."""
    config = json.loads((project / ".chalice" / "config.json").read_text())
    settings = config["lambda_functions"][ADMIN_FUNCTION]
    policy = json.loads((project / ".chalice" / settings["iam_policy_file"]).read_text())
    return policy, int(settings.get("lambda_timeout", config.get("lambda_timeout", 60)))


# Babel's CLDR data is ~10 MB zipped for ~1,000 locales; mail is written in a handful. The zip keeps these languages
# (every region of each) and `root`; a recipient in another language gets the delivery.json `default_locale`
# (delivery/formatting.py falls back on an unknown locale). Add a language here when the shop writes to it.
BABEL_LANGUAGES = ("en", "ja", "de", "fr", "es", "it", "nl", "pt", "zh", "ko")
BABEL_LOCALE_DATA = "babel/locale-data/"


def prune_babel_locales(zip_path: Path, languages: tuple[str, ...] = BABEL_LANGUAGES) -> int:
    """Rewrite the deployment zip without Babel locale data of other languages; returns the entries dropped."""
    import shutil
    import tempfile
    import zipfile

    def keep(name: str) -> bool:
        if not name.startswith(BABEL_LOCALE_DATA) or not name.endswith(".dat"):
            return True
        stem = name.removeprefix(BABEL_LOCALE_DATA).removesuffix(".dat")
        return stem == "root" or stem.split("_", 1)[0] in languages

    dropped = 0
    with (
        tempfile.NamedTemporaryFile(dir=zip_path.parent, suffix=".zip", delete=False) as tmp,
        zipfile.ZipFile(zip_path) as src,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            if keep(info.filename):
                dst.writestr(info, src.read(info.filename))
            else:
                dropped += 1
    Path(tmp.name).chmod(zip_path.stat().st_mode)  # the temporary file is 0600; keep the zip's own mode
    shutil.move(tmp.name, zip_path)
    return dropped


def main(argv: list[str] | None = None) -> int:
    """`python -m local.package build/package/sam.json [build/package/admin/sam.json]`: patch the template file in
    place, merging the admin API from the second template when given."""
    args = argv if argv is not None else sys.argv[1:]
    path = Path(args[0] if args else "build/package/sam.json")
    template = json.loads(path.read_text())
    if len(args) > 1:
        project = Path(__file__).resolve().parent.parent
        merge_admin_api(template, json.loads(Path(args[1]).read_text()), *admin_function_settings(project))
    patch_template(template)
    path.write_text(json.dumps(template, indent=2, sort_keys=False) + "\n")
    functions = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"]
    print(f"patched {path}: {len(functions)} functions ({', '.join(functions)})")
    deployment = path.parent / "deployment.zip"
    if deployment.is_file():
        print(f"{deployment}: dropped {prune_babel_locales(deployment)} Babel locale files of other languages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
