"""The function URL translator: route matching and the payload-2.0 <-> payload-1.0 shapes (no app, no AWS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.function_url import is_function_url_event, match, rest_event, sdk_routes, url_response

SAMPLE = Path(__file__).resolve().parents[3] / "events" / "lambda" / "function_url_post_batch.json"
ROUTES: dict[str, dict[str, Any]] = {
    "/v1/{kind}": {"POST": None, "OPTIONS": None},
    "/v1/devices": {"POST": None},
    "/v1/pixel/{kind}": {"GET": None},
    "/v1/{a}/{b}": {"GET": None},
    "/v1/x/{b}": {"GET": None},
    "/sourceConfig": {"GET": None},
    "/admin/profiles/{profile_id}": {"GET": None},
    "/openapi.json": {"GET": None},
}


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/track", ("/v1/{kind}", {"kind": "track"})),
        ("POST", "/v1/devices", ("/v1/devices", {})),  # the literal route wins
        ("OPTIONS", "/v1/devices", ("/v1/{kind}", {"kind": "devices"})),  # as the HTTP API's routes choose
        ("GET", "/v1/pixel/page", ("/v1/pixel/{kind}", {"kind": "page"})),
        ("GET", "/v1/x/y", ("/v1/x/{b}", {"b": "y"})),  # the leftmost literal segment decides
        ("GET", "/v1/z/y", ("/v1/{a}/{b}", {"a": "z", "b": "y"})),
        ("POST", "/v1/some%20kind", ("/v1/{kind}", {"kind": "some kind"})),
        ("GET", "/sourceConfig", ("/sourceConfig", {})),
        ("GET", "/admin/profiles/p-1", None),  # not an SDK route
        ("GET", "/openapi.json", None),
        ("GET", "/v1/devices", None),
        ("POST", "/v1/", None),
        ("POST", "/v1/track/", None),
        ("POST", "/v1", None),
    ],
)
def test_a_raw_path_is_matched_to_the_most_specific_sdk_route(
    method: str, path: str, expected: tuple[str, dict[str, str]] | None
) -> None:
    assert match(sdk_routes(ROUTES), method, path) == expected


def test_the_sample_becomes_the_rest_event_chalice_routes_by() -> None:
    event = json.loads(SAMPLE.read_text())

    rest = rest_event(event, "/v1/{kind}", {"kind": "batch"})

    assert rest["requestContext"]["resourcePath"] == rest["resource"] == "/v1/{kind}"
    assert rest["requestContext"]["httpMethod"] == rest["httpMethod"] == "POST"
    assert rest["pathParameters"] == {"kind": "batch"} and rest["path"] == "/v1/batch"
    assert rest["requestContext"]["identity"]["sourceIp"] == "198.51.100.23"
    assert rest["requestContext"]["requestId"] == event["requestContext"]["requestId"]  # the correlation id
    # repeated parameters stay apart (payload 2.0's queryStringParameters joins them with a comma), blanks kept
    assert rest["multiValueQueryStringParameters"] == {"utm_source": ["news", "mail"], "empty": [""]}
    assert rest["queryStringParameters"] == {"utm_source": "mail", "empty": ""}  # the last one, as REST gives
    assert rest["headers"]["cookie"] == "ajs_anonymous_id=a-fu-1; theme=dark"
    # a repeated header arrives comma-joined and stays one value: splitting at commas would cut a User-Agent or a date
    assert rest["headers"]["x-custom-multi"] == "one,two" and rest["multiValueHeaders"]["x-custom-multi"] == ["one,two"]
    assert rest["headers"]["content-encoding"] == "gzip" and rest["isBase64Encoded"] is True
    assert rest["body"] == event["body"]


def test_a_request_without_query_cookies_or_body_has_the_rest_nulls() -> None:
    event = json.loads(SAMPLE.read_text())
    for key in ("cookies", "body", "rawQueryString", "queryStringParameters"):
        event.pop(key)
    event["isBase64Encoded"] = False

    rest = rest_event(event, "/sourceConfig", {})

    assert rest["queryStringParameters"] is rest["multiValueQueryStringParameters"] is None
    assert rest["pathParameters"] is None and rest["body"] is None and "cookie" not in rest["headers"]


def test_a_chalice_response_takes_the_function_url_format() -> None:
    chalice_response = {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Set-Cookie": ["a=1; Secure", "b=2; Secure"], "Vary": ["Origin", "Accept"]},
        "body": "{}",
    }

    out = url_response(chalice_response)

    assert out == {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Vary": "Origin, Accept"},
        "cookies": ["a=1; Secure", "b=2; Secure"],
        "body": "{}",
        "isBase64Encoded": False,
    }


def test_only_a_function_url_event_is_translated() -> None:
    rest = json.loads((SAMPLE.parent / "apigw_post_track.json").read_text())
    assert is_function_url_event(json.loads(SAMPLE.read_text()))
    assert not is_function_url_event(rest)
    assert not is_function_url_event({"version": "1.0", "requestContext": {"resourcePath": "/v1/{kind}"}})
    assert not is_function_url_event({"Records": []})  # a stream or queue batch on the same module
