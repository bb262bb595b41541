"""The tracking routes behind the Lambda function URL (local/package.add_tracking_function_url): the public function's
handler (app.public_handler, chalicelib/api/function_url.py) is fed the event a function URL sends, in its real shape,
and must answer as the app does behind API Gateway, in the function URL's response format.

The event shape is AWS's documented payload 2.0 of a function URL ("Invoking Lambda function URLs"): one `$default`
route, `rawPath` and `rawQueryString`, lower-case header names with repeated values comma-joined, cookies apart, the
caller's address in `requestContext.http.sourceIp`, binary or compressed bodies base64-encoded. events/lambda/
function_url_post_batch.json is a whole one (a gzipped batch, cookies, repeated query parameters).
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from chalice.local import LambdaContext

from chalicelib.api.function_url import handler
from chalicelib.tracking.event_codec import bodies
from tests.integration.conftest import ORIGIN, WRITE_KEY, Harness
from tests.integration.test_http_api_payload import assert_preflight_answered

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "lambda" / "function_url_post_batch.json"
AUTH = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def url_event(
    method: str,
    path: str,
    headers: dict[str, str],
    body: str | None = None,
    *,
    base64_body: bool = False,
    query: str = "",
) -> dict[str, Any]:
    """A function URL request, built on the stored sample: only what the test names changes."""
    event: dict[str, Any] = json.loads(SAMPLE.read_text())
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["queryStringParameters"] = None
    event.pop("cookies")
    host = event["headers"]["host"]
    event["headers"] = {"host": host, "x-forwarded-for": "198.51.100.23", **{k.lower(): v for k, v in headers.items()}}
    event["requestContext"]["http"].update({"method": method, "path": path, "userAgent": headers.get("User-Agent", "")})
    event["body"] = body
    event["isBase64Encoded"] = base64_body
    if body is None:
        event.pop("body")
    return event


def invoke(harness: Harness, event: dict[str, Any]) -> dict[str, Any]:
    response = handler(harness.app)(event, LambdaContext("one2one-dev-APIHandler", 256, max_runtime_ms=30_000))
    assert "multiValueHeaders" not in response  # a function URL reads payload 2.0's response format only
    assert set(response) >= {"statusCode", "headers", "body"}
    return response


def stored_events() -> list[dict[str, Any]]:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    items = client("dynamodb").scan(TableName=table_name("EventsTable"))["Items"]
    return [json.loads(body) for item in items for body in bodies(item)]  # a batch's events of one profile: one item


def test_the_sample_gzipped_batch_is_stored_once_even_when_retried(harness: Harness) -> None:
    event = json.loads(SAMPLE.read_text())
    event["headers"]["authorization"] = AUTH

    first = invoke(harness, event)
    again = invoke(harness, copy.deepcopy(event))  # the SDK retried it

    assert first["statusCode"] == 200 and json.loads(first["body"]) == {"success": True}, first
    assert again["statusCode"] == 200
    assert {k.lower(): v for k, v in first["headers"].items()}["access-control-allow-origin"] == ORIGIN
    stored = stored_events()
    assert sorted(e["message_id"] for e in stored) == ["fu-1", "fu-2"]
    # the caller's address is the function URL's sourceIp (anonymised before it is stored), not a header it wrote
    assert {e["context"]["ip"] for e in stored} == {"198.51.100.0"}


def test_a_plain_base64_body_is_read(harness: Harness) -> None:
    # A function URL base64-encodes any body it does not take for text.
    plain = {"anonymousId": "a-2", "event": "Signed Up", "messageId": "fu-3"}
    headers = {"Content-Type": "application/octet-stream", "Authorization": AUTH}
    response = invoke(
        harness,
        url_event(
            "POST", "/v1/track", headers, base64.b64encode(json.dumps(plain).encode()).decode(), base64_body=True
        ),
    )
    assert response["statusCode"] == 200, response
    assert [e["event"] for e in stored_events()] == ["Signed Up"]


def test_bad_input_is_a_clear_400_naming_the_field(harness: Harness) -> None:
    headers = {"Content-Type": "application/json", "Authorization": AUTH}
    response = invoke(harness, url_event("POST", "/v1/track", headers, json.dumps({"event": "x"})))
    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert body["success"] is False and "field" in body


def test_a_cors_preflight_is_answered_by_the_app_for_an_allowed_origin_only(harness: Harness) -> None:
    asked = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    allowed = invoke(harness, url_event("OPTIONS", "/v1/batch", asked))
    refused = invoke(harness, url_event("OPTIONS", "/v1/batch", {**asked, "Origin": "https://evil.example"}))

    assert_preflight_answered(allowed, refused)


def test_the_pixel_answers_a_gif_base64_encoded_and_records_the_event(harness: Harness) -> None:
    data = base64.urlsafe_b64encode(
        json.dumps({"writeKey": WRITE_KEY, "anonymousId": "a-4", "event": "Email Opened"}).encode()
    ).decode()
    event = url_event(
        "GET", "/v1/pixel/track", {"Accept": "image/avif,image/webp,*/*", "User-Agent": UA}, query=f"data={data}"
    )
    response = invoke(harness, event)

    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True  # how a function URL is told to send binary
    assert base64.b64decode(response["body"])[:6] == b"GIF89a"
    assert [e["event"] for e in stored_events()] == ["Email Opened"]


def test_rudderstacks_source_config_is_served(harness: Harness) -> None:
    response = invoke(harness, url_event("GET", "/sourceConfig", {"Origin": ORIGIN}, query=f"writeKey={WRITE_KEY}"))
    assert response["statusCode"] == 200, response
    assert "source" in json.loads(response["body"])


def test_a_literal_route_wins_over_a_parameter_route(harness: Harness) -> None:
    # `/v1/devices` is the push-token view, not the tracking view with kind=devices (which would answer "unknown kind").
    tracking_answer = invoke(
        harness, url_event("POST", "/v1/nonsense", {"Content-Type": "application/json", "Authorization": AUTH}, "{}")
    )
    devices_answer = invoke(
        harness, url_event("POST", "/v1/devices", {"Content-Type": "application/json", "Authorization": AUTH}, "{}")
    )
    assert tracking_answer["statusCode"] >= 400 and devices_answer["statusCode"] >= 400
    assert json.loads(devices_answer["body"]) != json.loads(tracking_answer["body"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/profiles/p-1"),  # the admin API's routes are not on this function, nor reachable here
        ("GET", "/openapi.json"),  # public, but not an SDK route
        ("GET", "/v1/devices"),  # an SDK path with a method it does not take
        ("POST", "/v1/"),  # an empty parameter
        ("POST", "/v1/track/extra"),
        ("DELETE", "/v1/track"),
    ],
)
def test_anything_but_the_tracking_routes_is_a_404_json_answer(harness: Harness, method: str, path: str) -> None:
    response = invoke(harness, url_event(method, path, {"Authorization": AUTH}))
    assert response["statusCode"] == 404
    assert response["headers"]["Content-Type"] == "application/json"
    body = json.loads(response["body"])
    assert body["success"] is False and body["error"] == "not_found" and path in body["message"]
    assert stored_events() == []


def test_api_gateway_events_reach_the_app_unchanged(harness: Harness) -> None:
    rest = json.loads((SAMPLE.parent / "apigw_post_track.json").read_text())
    rest["headers"]["Authorization"] = AUTH
    rest["multiValueHeaders"]["Authorization"] = [AUTH]
    entry = handler(harness.app)
    response = entry(rest, LambdaContext("one2one-dev-APIHandler", 256, max_runtime_ms=30_000))
    assert response["statusCode"] == 200, response
    assert "multiValueHeaders" in response  # the REST response format, untranslated
