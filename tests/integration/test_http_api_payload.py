"""The tracking routes behind the API Gateway HTTP API (payload format 1.0, local/package.add_tracking_http_api):
the Lambda handler is fed the event that API sends, in its real shape, and must answer as it does behind REST.

The event shape is AWS's documented payload 1.0 of an HTTP API ("Working with AWS Lambda proxy integrations for
HTTP APIs"): REST-like, with `requestContext.resourcePath` the matched route's path, `stage` `$default`, `version`
1.0, binary or compressed bodies base64-encoded with `isBase64Encoded`. Header-name casing is whatever the client sent
(HTTP/1.1) or lower case (HTTP/2), so both are fed.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from chalice.local import LambdaContext

from chalicelib.tracking.event_codec import bodies
from tests.integration.conftest import ORIGIN, WRITE_KEY, Harness

AUTH = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def http_api_event(
    route: str,
    path: str,
    path_parameters: dict[str, str],
    headers: dict[str, str],
    body: str | None = None,
    *,
    base64_body: bool = False,
    query: str = "",
    lower_case: bool = False,
) -> dict[str, Any]:
    """An HTTP API payload-1.0 event, as API Gateway builds it for route `route` ("POST /v1/{kind}")."""
    method, resource = route.split(" ", 1)
    sent = {
        "Host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "X-Amzn-Trace-Id": "Root=1-6751a2b3-0123456789abcdef01234567",
        "X-Forwarded-For": "198.51.100.23",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **headers,
    }
    if lower_case:
        sent = {k.lower(): v for k, v in sent.items()}
    multi_query = dict(parse_qs(query)) if query else None
    return {
        "version": "1.0",
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} if multi_query else None,
        "multiValueQueryStringParameters": multi_query,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "extendedRequestId": "CxKq2h0GIAMEJ9Q=",
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": "198.51.100.23",
                "user": None,
                "userAgent": sent.get("User-Agent") or sent.get("user-agent") or "",
                "userArn": None,
            },
            "path": path,
            "protocol": "HTTP/1.1",
            "requestId": "CxKq2h0GIAMEJ9Q=",
            "requestTime": "05/Dec/2026:09:30:00 +0000",
            "requestTimeEpoch": 1796463000000,
            "resourceId": route,
            "resourcePath": resource,
            "stage": "$default",
        },
        "pathParameters": path_parameters,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": base64_body,
    }


def invoke(harness: Harness, event: dict[str, Any]) -> dict[str, Any]:
    response = harness.app(event, LambdaContext("one2one-dev-APIHandler", 256, max_runtime_ms=30_000))
    assert set(response) >= {"statusCode", "headers", "body"}  # payload 1.0 response format
    return response


def stored_events() -> list[dict[str, Any]]:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    items = client("dynamodb").scan(TableName=table_name("EventsTable"))["Items"]
    return [json.loads(body) for item in items for body in bodies(item)]  # a batch's events of one profile: one item


@pytest.mark.parametrize("lower_case", [False, True], ids=["http1-casing", "lower-case"])
def test_a_batch_through_the_http_api_is_stored_once(harness: Harness, lower_case: bool) -> None:
    batch = {
        "batch": [
            {"type": "track", "messageId": "h-1", "anonymousId": "a-1", "event": "Product Viewed"},
            {"type": "page", "messageId": "h-2", "anonymousId": "a-1", "name": "Home"},
        ]
    }
    headers = {"Content-Type": "application/json", "Authorization": AUTH, "User-Agent": "analytics-python/2.3"}
    event = http_api_event("POST /v1/{kind}", "/v1/batch", {"kind": "batch"}, headers, json.dumps(batch))
    event_lower = http_api_event(
        "POST /v1/{kind}", "/v1/batch", {"kind": "batch"}, headers, json.dumps(batch), lower_case=lower_case
    )

    first = invoke(harness, event_lower)
    again = invoke(harness, event)  # API Gateway or the SDK retried it

    assert first["statusCode"] == 200 and json.loads(first["body"]) == {"success": True}
    assert again["statusCode"] == 200
    assert sorted(e["message_id"] for e in stored_events()) == ["h-1", "h-2"]


def test_a_track_with_a_base64_body_and_a_gzip_body_are_read(harness: Harness) -> None:
    # An HTTP API base64-encodes bodies it does not take for text (and never inflates a gzip body itself).
    plain = {"anonymousId": "a-2", "event": "Signed Up", "messageId": "h-3"}
    zipped = {"anonymousId": "a-2", "event": "Order Completed", "messageId": "h-4"}
    headers = {"Content-Type": "application/json", "Authorization": AUTH}
    as_base64 = base64.b64encode(json.dumps(plain).encode()).decode()
    gzipped = base64.b64encode(gzip.compress(json.dumps(zipped).encode())).decode()

    one = invoke(
        harness,
        http_api_event("POST /v1/{kind}", "/v1/track", {"kind": "track"}, headers, as_base64, base64_body=True),
    )
    two = invoke(
        harness,
        http_api_event(
            "POST /v1/{kind}",
            "/v1/track",
            {"kind": "track"},
            {**headers, "Content-Encoding": "gzip"},
            gzipped,
            base64_body=True,
        ),
    )

    assert (one["statusCode"], two["statusCode"]) == (200, 200), (one, two)
    assert {e["message_id"]: e["event"] for e in stored_events()} == {"h-3": "Signed Up", "h-4": "Order Completed"}


def test_bad_input_through_the_http_api_is_a_clear_400_naming_the_field(harness: Harness) -> None:
    headers = {"Content-Type": "application/json", "Authorization": AUTH}
    response = invoke(
        harness,
        http_api_event("POST /v1/{kind}", "/v1/track", {"kind": "track"}, headers, json.dumps({"event": "x"})),
    )
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["success"] is False and "field" in json.loads(response["body"])


@pytest.mark.parametrize("lower_case", [False, True], ids=["http1-casing", "lower-case"])
def test_a_cors_preflight_is_answered_by_the_app_for_an_allowed_origin_only(harness: Harness, lower_case: bool) -> None:
    asked = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    allowed = invoke(
        harness, http_api_event("OPTIONS /v1/{kind}", "/v1/batch", {"kind": "batch"}, asked, lower_case=lower_case)
    )
    refused = invoke(
        harness,
        http_api_event(
            "OPTIONS /v1/{kind}",
            "/v1/batch",
            {"kind": "batch"},
            {**asked, "Origin": "https://evil.example"},
            lower_case=lower_case,
        ),
    )

    assert_preflight_answered(allowed, refused)


def assert_preflight_answered(allowed: dict[str, Any], refused: dict[str, Any]) -> None:
    """A CORS preflight from the source's own origin is allowed to POST; one from another origin gets no allow-origin
    naming it (the same contract whatever the tracking routes are reached through)."""
    allowed_headers = {k.lower(): v for k, v in allowed["headers"].items()}
    assert allowed["statusCode"] in (200, 204)
    assert allowed_headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed_headers["access-control-allow-methods"]
    refused_headers = {k.lower(): v for k, v in refused["headers"].items()}
    assert refused_headers.get("access-control-allow-origin") != "https://evil.example"


def test_a_browser_post_gets_the_cors_origin_back(harness: Harness) -> None:
    headers = {"content-type": "text/plain", "authorization": AUTH, "origin": ORIGIN, "user-agent": UA}
    response = invoke(
        harness,
        http_api_event(
            "POST /v1/{kind}",
            "/v1/track",
            {"kind": "track"},
            headers,
            json.dumps({"anonymousId": "a-3", "event": "Viewed"}),
            lower_case=True,
        ),
    )
    assert response["statusCode"] == 200
    assert {k.lower(): v for k, v in response["headers"].items()}["access-control-allow-origin"] == ORIGIN


def test_the_pixel_answers_a_gif_base64_encoded_and_records_the_event(harness: Harness) -> None:
    data = base64.urlsafe_b64encode(
        json.dumps({"writeKey": WRITE_KEY, "anonymousId": "a-4", "event": "Email Opened"}).encode()
    ).decode()
    event = http_api_event(
        "GET /v1/pixel/{kind}",
        "/v1/pixel/track",
        {"kind": "track"},
        {"Accept": "image/avif,image/webp,*/*", "User-Agent": UA},
        query=f"data={data}",
    )
    response = invoke(harness, event)

    assert response["statusCode"] == 200
    assert response.get("isBase64Encoded") is True  # how a Lambda proxy returns binary to API Gateway
    assert base64.b64decode(response["body"])[:6] == b"GIF89a"
    assert [e["event"] for e in stored_events()] == ["Email Opened"]


def test_rudderstacks_source_config_is_served_on_the_http_api_too(harness: Harness) -> None:
    # RudderStack's SDK asks its data plane (the HTTP API, once the SDKs point there) for its settings first.
    event = http_api_event("GET /sourceConfig", "/sourceConfig", {}, {"Origin": ORIGIN}, query=f"writeKey={WRITE_KEY}")
    event["pathParameters"] = None  # a route without parameters: API Gateway sends null
    response = invoke(harness, event)
    assert response["statusCode"] == 200, response
    assert "source" in json.loads(response["body"])
