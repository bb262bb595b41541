"""Packaging: the SAM template is wired to our tables and lint-clean, and the IAM policies stay least-privilege."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.shared.settings import TABLES
from local.package import FAILURE_QUEUE, PUBLIC_HANDLER, PackageError, patch_template
from local.provision import load_template

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLACEHOLDER = "arn:aws:dynamodb:us-east-1:123456789012:table/{}/stream/2026-01-01T00:00:00.000"


def _sam(events: dict[str, Any]) -> dict[str, Any]:
    """A small `chalice package`-shaped template merged with infra/resources.json."""
    template = load_template()
    template["Resources"]["OrdersQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "orders"}}
    template["Resources"]["Worker"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "Handler": "app.worker",
            "Environment": {"Variables": {"ONE2ONE_STAGE": "prod"}},
            "Events": events,
        },
    }
    template["Resources"]["APIHandler"] = {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "app.app"}}
    return template


def test_stream_events_point_at_the_template_tables_with_partial_failures_retries_and_a_failure_queue():
    sam = _sam(
        {
            "Fold": {
                "Type": "DynamoDB",
                "Properties": {"Stream": PLACEHOLDER.format("one2one-event-log"), "BatchSize": 10},
            },
            "Profiles": {"Type": "DynamoDB", "Properties": {"Stream": PLACEHOLDER.format("one2one-profiles")}},
        }
    )

    events = patch_template(sam)["Resources"]["Worker"]["Properties"]["Events"]

    fold = events["Fold"]["Properties"]
    assert fold["Stream"] == {"Fn::GetAtt": ["EventsTable", "StreamArn"]}
    assert events["Profiles"]["Properties"]["Stream"] == {"Fn::GetAtt": ["ProfilesTable", "StreamArn"]}
    assert fold["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert fold["BisectBatchOnFunctionError"] is True
    assert 0 < fold["MaximumRetryAttempts"] <= 10
    assert fold["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": [FAILURE_QUEUE, "Arn"]},
    }
    assert fold["BatchSize"] == 10  # what chalice wrote is kept


def test_the_segment_size_counter_is_retried_from_its_batch_start_never_bisected():
    # Its batches are marked counted by their first record (segments/sizes.py): a half re-delivered alone could count
    # its records again.
    sam = _sam({})
    stream = PLACEHOLDER.format("one2one-segment-members")
    sam["Resources"]["CountSegmentSizes"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "Handler": "app.count_segment_sizes",
            "Events": {"Members": {"Type": "DynamoDB", "Properties": {"Stream": stream}}},
        },
    }
    members = patch_template(sam)["Resources"]["CountSegmentSizes"]["Properties"]["Events"]["Members"]["Properties"]
    assert members["Stream"] == {"Fn::GetAtt": ["SegmentMembersTable", "StreamArn"]}
    assert members["BisectBatchOnFunctionError"] is False
    assert members["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert load_template()["Resources"]["SegmentMembersTable"]["Properties"]["StreamSpecification"] == {
        "StreamViewType": "KEYS_ONLY"
    }


def test_every_function_gets_the_resource_names_settings_reads_and_keeps_its_own_variables():
    from chalicelib.shared import settings

    sam = patch_template(_sam({}))

    for name in ("Worker", "APIHandler"):
        variables = sam["Resources"][name]["Properties"]["Environment"]["Variables"]
        for logical_id, (env_var, _default) in TABLES.items():
            assert variables[env_var] == {"Ref": logical_id}
        for logical_id, (env_var, _default) in getattr(settings, "QUEUES", {}).items():
            assert variables[env_var] == {"Fn::GetAtt": [logical_id, "QueueName"]}
            assert variables[f"{env_var}_URL"] == {"Ref": logical_id}
        for logical_id, (env_var, _default) in getattr(settings, "TOPICS", {}).items():
            assert variables[env_var] == {"Fn::GetAtt": [logical_id, "TopicName"]}
            assert variables[f"{env_var}_ARN"] == {"Ref": logical_id}
        for logical_id, (env_var, _default) in getattr(settings, "CONFIGURATION_SETS", {}).items():
            assert variables[env_var] == {"Ref": logical_id}
    assert sam["Resources"]["Worker"]["Properties"]["Environment"]["Variables"]["ONE2ONE_STAGE"] == "prod"


def test_queue_events_of_template_queues_get_refs_and_partial_failures():
    sam = _sam(
        {
            "Orders": {
                "Type": "SQS",
                "Properties": {
                    "Queue": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:orders"}
                },
            },
            "External": {"Type": "SQS", "Properties": {"Queue": "arn:aws:sqs:us-east-1:111122223333:someone-elses"}},
        }
    )

    events = patch_template(sam)["Resources"]["Worker"]["Properties"]["Events"]

    assert events["Orders"]["Properties"]["Queue"] == {"Fn::GetAtt": ["OrdersQueue", "Arn"]}
    assert events["External"]["Properties"]["Queue"] == "arn:aws:sqs:us-east-1:111122223333:someone-elses"
    assert events["External"]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_topic_events_of_template_topics_subscribe_to_the_real_topic():
    sam = _sam({"Feedback": {"Type": "SNS", "Properties": {"Topic": {"Fn::Sub": "arn:${AWS::Partition}:sns:x:y:t1"}}}})
    sam["Resources"]["T1"] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "t1"}}

    events = patch_template(sam)["Resources"]["Worker"]["Properties"]["Events"]

    assert events["Feedback"]["Properties"]["Topic"] == {"Ref": "T1"}


def test_async_functions_retry_twice_then_keep_the_event_on_the_failure_queue():
    sam = _sam(
        {
            "Feedback": {"Type": "SNS", "Properties": {"Topic": "arn:aws:sns:us-east-1:123456789012:x"}},
            "Nightly": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 day)"}},
        }
    )

    worker = patch_template(sam)["Resources"]["Worker"]["Properties"]

    assert worker["EventInvokeConfig"]["MaximumRetryAttempts"] == 2
    assert worker["EventInvokeConfig"]["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["AsyncFailuresQueue", "Arn"]},
    }
    assert "EventInvokeConfig" not in patch_template(_sam({}))["Resources"]["Worker"]["Properties"]


def test_the_edge_is_throttled_logged_capped_and_optionally_behind_waf():
    sam = _sam({})
    sam["Resources"]["RestAPI"] = {"Type": "AWS::Serverless::Api", "Properties": {"StageName": "api"}}

    resources = patch_template(sam)["Resources"]

    api = resources["RestAPI"]["Properties"]
    assert api["MethodSettings"] == [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": {"Ref": "ApiRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "ApiBurstLimit"},
        }
    ]
    when_on, when_off = api["AccessLogSetting"]["Fn::If"][1:]
    assert json.loads(when_on["Format"])["requestId"] == "$context.requestId" and when_off == {"Ref": "AWS::NoValue"}
    assert resources["APIHandler"]["Properties"]["ReservedConcurrentExecutions"] == {"Ref": "IngestReservedConcurrency"}
    waf = resources["PublicApiWebAcl"]
    assert waf["Condition"] == "WafOn"
    assert waf["Properties"]["Rules"][0]["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert (
        "/restapis/${RestAPI}/stages/api"
        in resources["PublicApiWebAclAssociation"]["Properties"]["ResourceArn"]["Fn::Sub"]
    )


def test_tracking_routes_get_an_http_api_invoking_only_the_public_function_with_the_same_throttle_and_logs():
    from chalice.test import Client  # noqa: F401 - the app's own route table is the reference

    from app import app
    from local.package import TRACKING_HTTP_ROUTES

    sam = _sam({})
    sam["Resources"]["RestAPI"] = {"Type": "AWS::Serverless::Api", "Properties": {"StageName": "api"}}

    resources = patch_template(sam)["Resources"]

    # every route key is a Chalice route of the public API with that method (Chalice finds views by that path)
    routes = [r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"]
    assert sorted(r["Properties"]["RouteKey"] for r in routes) == sorted(TRACKING_HTTP_ROUTES)
    for route in routes:
        method, path = route["Properties"]["RouteKey"].split(" ", 1)
        assert method in app.routes[path], route
        assert route["Properties"]["Target"] == {"Fn::Sub": "integrations/${TrackingHttpApiIntegration}"}
    assert not any(r["Properties"]["RouteKey"].split(" ", 1)[1].startswith("/admin") for r in routes)
    # and every public route an SDK or tracker.js calls on the tracking host is there, by its own path: a request to
    # `/v1/devices` matched by `POST /v1/{kind}` would reach the tracking view with kind=devices
    sdk_facing = {
        f"{method} {path}"
        for path, methods in app.routes.items()
        if path.startswith(("/v1/", "/beacon/")) or path == "/sourceConfig"
        for method in methods
    }
    assert sdk_facing == set(TRACKING_HTTP_ROUTES)
    integration = resources["TrackingHttpApiIntegration"]["Properties"]
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["APIHandler", "Arn"]}
    assert integration["PayloadFormatVersion"] == "1.0"  # the REST-shaped event Chalice reads
    assert "CorsConfiguration" not in resources["TrackingHttpApi"]["Properties"]  # the app answers preflights
    stage = resources["TrackingHttpApiStage"]["Properties"]
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ApiRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiBurstLimit"},
    }
    when_on, when_off = stage["AccessLogSettings"]["Fn::If"][1:]
    assert json.loads(when_on["Format"])["routeKey"] == "$context.routeKey" and when_off == {"Ref": "AWS::NoValue"}
    # least privilege: the public function only, invoked by this API only
    permission = resources["TrackingHttpApiInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "APIHandler"}
    assert permission["SourceArn"]["Fn::Sub"].endswith(":${TrackingHttpApi}/*")


def test_the_public_function_gets_a_public_function_url_serving_the_same_sdk_routes_as_the_http_api():
    import app as app_module
    from chalicelib.api.function_url import sdk_routes
    from local.package import TRACKING_HTTP_ROUTES

    sam = _sam({})
    sam["Resources"]["RestAPI"] = {"Type": "AWS::Serverless::Api", "Properties": {"StageName": "api"}}

    template = patch_template(sam)
    resources = template["Resources"]

    url = resources["TrackingFunctionUrl"]
    assert url["Type"] == "AWS::Lambda::Url"
    assert url["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": ["APIHandler", "Arn"]}
    # the write key is the credential, checked by the app; the app answers preflights per source (no static Cors)
    assert url["Properties"]["AuthType"] == "NONE" and "Cors" not in url["Properties"]
    permissions = {
        body["Properties"]["Action"]: body["Properties"]
        for body in resources.values()
        if body["Type"] == "AWS::Lambda::Permission" and body["Properties"].get("Principal") == "*"
    }
    assert permissions["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
    assert permissions["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True  # never a direct public Invoke
    assert {p["FunctionName"]["Ref"] for p in permissions.values()} == {"APIHandler"}
    # the handler translates the URL's events; it is app.py's, and the admin function keeps Chalice's own
    module, attribute = PUBLIC_HANDLER.split(".")
    assert module == "app" and callable(getattr(app_module, attribute))
    assert resources["APIHandler"]["Properties"]["Handler"] == PUBLIC_HANDLER
    assert "TrackingFunctionUrl" in json.dumps(template["Outputs"]["TrackingFunctionURL"])
    # the URL serves exactly the routes the HTTP API lists
    served = {
        f"{method} {template}" for template, _, methods in sdk_routes(app_module.app.routes) for method in methods
    }
    assert served == set(TRACKING_HTTP_ROUTES)


def test_every_function_logs_json_without_lambdas_platform_lines_at_the_stages_level():
    sam = _sam({})
    sam["Resources"]["Worker"]["Properties"]["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] = "DEBUG"

    resources = patch_template(sam)["Resources"]

    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert {k: v["Properties"]["LoggingConfig"]["SystemLogLevel"] for k, v in functions.items()} == {
        "Worker": "WARN",
        "APIHandler": "WARN",
    }
    assert all(v["Properties"]["LoggingConfig"]["LogFormat"] == "JSON" for v in functions.values())
    # Powertools defers to Lambda's application level, so it follows the stage's: a DEBUG stage keeps its debug lines
    assert functions["Worker"]["Properties"]["LoggingConfig"]["ApplicationLogLevel"] == "DEBUG"
    assert functions["APIHandler"]["Properties"]["LoggingConfig"]["ApplicationLogLevel"] == "INFO"


def test_data_tables_and_the_signing_secret_survive_the_stack():
    for logical_id, body in load_template()["Resources"].items():
        if body["Type"] in ("AWS::DynamoDB::Table", "AWS::SecretsManager::Secret"):
            assert body["DeletionPolicy"] == body["UpdateReplacePolicy"] == "Retain", logical_id


def test_patching_twice_changes_nothing():
    once = patch_template(
        _sam({"Fold": {"Type": "DynamoDB", "Properties": {"Stream": PLACEHOLDER.format("one2one-event-log")}}})
    )
    assert patch_template(copy.deepcopy(once)) == once


def test_a_stream_of_an_unknown_table_is_an_error_not_a_silent_placeholder():
    sam = _sam({"X": {"Type": "DynamoDB", "Properties": {"Stream": PLACEHOLDER.format("not-ours")}}})
    with pytest.raises(PackageError, match="not-ours"):
        patch_template(sam)


@pytest.mark.slow
def test_chalice_package_patch_and_cfn_lint_end_to_end(tmp_path):
    """The real `make package` pipeline: the public API, the admin API packaged again with ONE2ONE_API=admin and
    merged, the template patch and cfn-lint (chalice downloads Lambda wheels once, then reuses .chalice/deployments)."""
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    out = tmp_path / "package"
    done = subprocess.run(
        ["make", "--no-print-directory", "package", f"PACKAGE_DIR={out}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]  # cfn-lint: no errors, no warnings
    sam = json.loads((out / "sam.json").read_text())
    functions = {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())["lambda_functions"]
    capped: set[str] = set()
    for function in functions.values():
        assert function["Properties"]["Environment"]["Variables"]["EVENTS_TABLE"] == {"Ref": "EventsTable"}
        assert function["Properties"]["Environment"]["Variables"]["ONE2ONE_SIGNING_SECRET_ARN"] == {
            "Ref": "SigningSecret"
        }
        # one role per function, carrying exactly that function's hand-written policy
        role = sam["Resources"][function["Properties"]["Role"]["Fn::GetAtt"][0]]
        handler = function["Properties"]["Handler"]
        api = function["Properties"]["Environment"]["Variables"].get("ONE2ONE_API")
        name = (
            {"public": "api_handler", "admin": "admin_api"}[api]
            if handler in ("app.app", PUBLIC_HANDLER)
            else handler.rsplit(".", 1)[-1]
        )
        policy = json.loads((ROOT / ".chalice" / config[name]["iam_policy_file"]).read_text())
        assert role["Properties"]["Policies"][0]["PolicyDocument"] == policy, name
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "DynamoDB":
                assert "Fn::GetAtt" in event["Properties"]["Stream"]
                assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
            if event["Type"] == "SQS":
                assert "Fn::GetAtt" in event["Properties"]["Queue"]
                if event["Properties"]["Queue"]["Fn::GetAtt"][0] == "ImportQueue":  # a big import cannot take it all
                    assert event["Properties"]["ScalingConfig"] == {
                        "MaximumConcurrency": {"Ref": "ImportMaxConcurrency"}
                    }
                    capped.add(name)
            if event["Type"] == "SNS":
                assert "Ref" in event["Properties"]["Topic"]
    assert capped == {"import_files"}
    assert sam["Parameters"]["ImportMaxConcurrency"]["Default"] == 50
    roles = [v["Properties"]["Role"]["Fn::GetAtt"][0] for v in functions.values()]
    assert len(set(roles)) == len(functions)
    # two REST APIs: the public one without a single /admin route, the admin one with nothing else, IAM-authorised
    public_paths = sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    admin_paths = sam["Resources"]["AdminRestAPI"]["Properties"]["DefinitionBody"]["paths"]
    assert "/v1/{kind}" in public_paths and not [p for p in public_paths if p.startswith("/admin")]
    assert "/admin/profiles/{profile_id}" in admin_paths and all(p.startswith("/admin") for p in admin_paths)
    public_console = {"/admin/console/sign-in", "/admin/console/sign-out", "/admin/console/auth/callback"}
    public_console.add("/admin/console/static/{name}")
    for name, path in admin_paths.items():
        for operation in path.values():
            if name in public_console:  # the way in: the hosted UI's round trip, and the assets
                assert "security" not in operation, name
            elif name.startswith("/admin/console"):  # people, with a Cognito ID token
                assert operation["security"] == [{"ConsoleUsers": []}], name
            else:  # scripts, signed with IAM
                assert operation["security"] == [{"sigv4": []}], name
            assert operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"].count("${AdminAPIHandler.Arn}") == 1
    # the console's authorizer is the stack's user pool; CloudFront serves the console same-origin with both APIs
    authorizers = sam["Resources"]["AdminRestAPI"]["Properties"]["DefinitionBody"]["securityDefinitions"]
    cognito = authorizers["ConsoleUsers"]["x-amazon-apigateway-authorizer"]
    assert cognito["providerARNs"] == [{"Fn::GetAtt": ["ConsoleUserPool", "Arn"]}]
    admin_env = sam["Resources"]["AdminAPIHandler"]["Properties"]["Environment"]["Variables"]
    assert admin_env["ONE2ONE_CONSOLE_USER_POOL_ID"] == {"Ref": "ConsoleUserPool"}
    assert admin_env["ONE2ONE_CONSOLE_STATIC_URL"] == "/console-static"
    edge = sam["Resources"]["ConsoleDistribution"]["Properties"]["DistributionConfig"]
    routes = {b["PathPattern"]: b["TargetOriginId"] for b in edge["CacheBehaviors"]}
    assert routes == {"/admin/console*": "admin-api", "/admin/*": "admin-api", "/v1/*": "public-api"}
    assert edge["DefaultCacheBehavior"]["TargetOriginId"] == "console-assets"
    [assets] = [o for o in edge["Origins"] if o["Id"] == "console-assets"]
    assert assets["OriginAccessControlId"] == {"Fn::GetAtt": ["ConsoleAssetsAccessControl", "Id"]}
    groups = {
        v["Properties"]["GroupName"] for v in sam["Resources"].values() if v["Type"] == "AWS::Cognito::UserPoolGroup"
    }
    assert groups == {"admin", "marketer", "viewer"}
    permission = sam["Resources"]["AdminAPIHandlerInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "AdminAPIHandler"}
    assert permission["SourceArn"]["Fn::Sub"][1] == {"RestAPIId": {"Ref": "AdminRestAPI"}}
    assert "AdminEndpointURL" in sam["Outputs"]
    assert sam["Resources"]["AdminRestAPI"]["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] == {
        "Ref": "AdminApiRateLimit"
    }
    # numpy and scipy reach the model-fitting function as a layer, and no other function: deployment.zip, which
    # every function (the tracking API and the fold included) loads, carries neither
    with_layers = {name for name, f in functions.items() if f["Properties"].get("Layers")}
    assert with_layers == {"FitPredictions"}
    assert sam["Resources"]["ScientificPythonLayer"]["Properties"]["ContentUri"] == "./scientific-layer.zip"
    with zipfile.ZipFile(out / "scientific-layer.zip") as layer:
        assert {"python/numpy/__init__.py", "python/scipy/optimize/__init__.py"} <= set(layer.namelist())
    with zipfile.ZipFile(out / "deployment.zip") as code:
        assert not [n for n in code.namelist() if n.startswith(("numpy/", "scipy/"))]


# --- configuration and IAM (per-function policies: tests/integration/test_policies.py) ------------------------------


def _config() -> dict[str, Any]:
    return json.loads((ROOT / ".chalice" / "config.json").read_text())


def test_config_has_dev_and_prod_and_hand_written_per_function_policies():
    config = _config()
    assert config["app_name"] == "one2one"
    assert config["autogen_policy"] is False
    assert {"dev", "prod"} <= set(config["stages"])
    for name, stage in config["stages"].items():
        assert stage["environment_variables"]["ONE2ONE_STAGE"] == name
    for function, settings in config["lambda_functions"].items():
        assert (ROOT / ".chalice" / settings["iam_policy_file"]).is_file(), function


def test_timeouts_fit_each_job():
    functions = _config()["lambda_functions"]
    assert _config()["lambda_memory_size"] == 256
    assert functions["lifecycle_sweep"]["lambda_timeout"] == 900
    assert functions["refresh_cut_points"]["lambda_timeout"] == 900
    assert functions["fold_events"]["lambda_timeout"] == 120
    assert functions["deliver_steps"]["lambda_timeout"] == 60
    # an SQS event source needs the queue's visibility timeout to be at least the function's timeout
    delivery = load_template()["Resources"]["DeliveryQueue"]["Properties"]
    assert delivery["VisibilityTimeout"] >= functions["deliver_steps"]["lambda_timeout"]
    # the backfill worker: AWS advises a visibility timeout of six times the function's for SQS event sources
    backfill = load_template()["Resources"]["BackfillQueue"]["Properties"]
    assert backfill["VisibilityTimeout"] >= 6 * functions["backfill_profiles"]["lambda_timeout"]
    assert backfill["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["BackfillDeadLetterQueue", "Arn"]}
    exports = load_template()["Resources"]["ExportQueue"]["Properties"]
    assert exports["VisibilityTimeout"] >= 6 * functions["export_segments"]["lambda_timeout"]


def test_functions_get_the_signing_secret_arn():
    sam = patch_template(_sam({}))
    assert load_template()["Resources"]["SigningSecret"]["Type"] == "AWS::SecretsManager::Secret"
    variables = sam["Resources"]["Worker"]["Properties"]["Environment"]["Variables"]
    assert variables["ONE2ONE_SIGNING_SECRET_ARN"] == {"Ref": "SigningSecret"}
