"""The tracking routes behind a Lambda function URL: its payload-2.0 event in, the REST-shaped event Chalice routes by.

A function URL costs nothing beyond the invocation (API Gateway's HTTP API costs $1.00 per million requests), but it
hands the function one event shape for every path, with no matched route: Chalice finds its view by
`requestContext.resourcePath`, the route template ("/v1/{kind}"). So the raw path is matched here against the app's
own SDK-facing routes (the same set local/package.TRACKING_HTTP_ROUTES gives the HTTP API; a test keeps them equal):
a literal segment beats a `{param}`, as API Gateway chooses, so `/v1/devices` is the devices view and not
`/v1/{kind}` with kind=devices. Any other path or method is a 404 JSON answer; nothing else of the app is reachable.

Chalice's own matcher (chalice.local.RouteMatcher) is not in the deployed package (only chalice/app.py is), so this
is a small one of our own over `app.routes`, built once per process. Only the standard library is imported: this
module is on the tracking function's cold start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

# The SDK-facing routes: what an SDK, tracker.js or a shop's feed calls on the tracking host.
SDK_PATH_PREFIXES = ("/v1/", "/beacon/")
SDK_PATHS = ("/sourceConfig",)

Route = tuple[str, tuple[str, ...], frozenset[str]]  # template, its segments, its methods
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def is_sdk_path(template: str) -> bool:
    return template.startswith(SDK_PATH_PREFIXES) or template in SDK_PATHS


def is_function_url_event(event: Mapping[str, Any]) -> bool:
    """A function URL's request (payload 2.0: `requestContext.http`); API Gateway's REST and payload-1.0 events
    carry `requestContext.resourcePath` instead."""
    context = event.get("requestContext")
    return event.get("version") == "2.0" and isinstance(context, Mapping) and "http" in context


def sdk_routes(routes: Mapping[str, Mapping[str, Any]]) -> list[Route]:
    """The app's SDK-facing routes, most specific first (literal segments before `{param}` ones, left to right)."""
    table = [
        (template, tuple(template.split("/")), frozenset(methods))
        for template, methods in routes.items()
        if is_sdk_path(template)
    ]
    return sorted(table, key=lambda route: tuple(part.startswith("{") for part in route[1]))


def match(table: list[Route], method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The route template `method path` is served by and its path parameters, or None."""
    parts = path.split("/")
    for template, segments, methods in table:
        if method not in methods or len(segments) != len(parts):
            continue
        params: dict[str, str] = {}
        for segment, part in zip(segments, parts, strict=True):
            if segment.startswith("{") and segment.endswith("}") and part:
                params[segment[1:-1]] = unquote(part)
            elif segment != part:
                break
        else:
            return template, params
    return None


def rest_event(event: Mapping[str, Any], template: str, params: dict[str, str]) -> dict[str, Any]:
    """The payload-1.0 (REST proxy) event for a function URL request matched to `template`.

    Payload 2.0 joins repeated query parameters and headers with commas and moves cookies out of the headers; the
    query is parsed again from `rawQueryString` (so `?a=1&a=2` stays two values, as in REST), cookies go back into a
    `cookie` header, and the caller's address into `requestContext.identity.sourceIp`, where the app reads it."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    method = str(http.get("method", "GET")).upper()
    path = str(event.get("rawPath") or http.get("path") or "/")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    if event.get("cookies"):
        headers["cookie"] = "; ".join(event["cookies"])
    query = parse_qs(str(event.get("rawQueryString") or ""), keep_blank_values=True)
    return {
        "resource": template,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": template,
            "httpMethod": method,
            "path": path,
            "requestId": context.get("requestId"),
            "accountId": context.get("accountId"),
            "apiId": context.get("apiId"),
            "domainName": context.get("domainName"),
            "domainPrefix": context.get("domainPrefix"),
            "stage": context.get("stage", "$default"),
            "protocol": http.get("protocol"),
            "requestTimeEpoch": context.get("timeEpoch"),
            "identity": {"sourceIp": http.get("sourceIp"), "userAgent": http.get("userAgent")},
        },
        "body": event.get("body"),
        "isBase64Encoded": bool(event.get("isBase64Encoded", False)),
    }


def url_response(response: Mapping[str, Any]) -> dict[str, Any]:
    """A Chalice (payload-1.0) response in the function URL's format, which reads no `multiValueHeaders`: repeated
    `Set-Cookie` values become `cookies`, other repeated headers one comma-joined value (RFC 9110 5.3)."""
    headers = dict(response.get("headers") or {})
    cookies: list[str] = []
    for name, values in (response.get("multiValueHeaders") or {}).items():
        if name.lower() == "set-cookie":
            cookies += [str(v) for v in values]
        else:
            headers[name] = ", ".join(str(v) for v in values)
    out = {
        "statusCode": response.get("statusCode", 200),
        "headers": headers,
        "body": response.get("body", ""),
        "isBase64Encoded": bool(response.get("isBase64Encoded", False)),
    }
    if cookies:
        out["cookies"] = cookies
    return out


def not_found(method: str, path: str) -> dict[str, Any]:
    body = {
        "success": False,
        "error": "not_found",
        "message": f"no route {method} {path}: this endpoint serves the tracking routes only",
        "field": None,
    }
    return {
        "statusCode": 404,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def handler(app: Any) -> Handler:
    """The Lambda entry point of the public function: function URL requests are translated (see the module's
    docstring), every other event (API Gateway's REST and HTTP API events) goes to the Chalice `app` unchanged.

    Example: in app.py, `public_handler = function_url.handler(app)`, and the function's Handler `app.public_handler`.
    """
    table: list[Route] = []

    def entry(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not is_function_url_event(event):
            return app(event, context)
        if not table:
            table.extend(sdk_routes(app.routes))  # once per process, after every blueprint is registered
        http = event["requestContext"]["http"]
        method = str(http.get("method", "GET")).upper()
        path = str(event.get("rawPath") or http.get("path") or "/")
        matched = match(table, method, path)
        if matched is None:
            return not_found(method, path)
        return url_response(app(rest_event(event, *matched), context))

    return entry
