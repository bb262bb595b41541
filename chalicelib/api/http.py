"""Small helpers shared by the HTTP blueprints: JSON responses, CORS, request metadata, and the AWS-failure guard."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from chalice import Response
from chalice.app import Request

if TYPE_CHECKING:
    from chalicelib.tracking.ingest import RequestMeta

log = logging.getLogger("one2one")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    out_headers: dict[str, str | list[str]] = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    out_headers.update(headers or {})
    payload = "" if status == 204 else json.dumps(body, default=str, separators=(",", ":"))
    return Response(body=payload, status_code=status, headers=out_headers)


def cors_headers(origin: str | None) -> dict[str, str]:
    """Headers that let a browser page on `origin` read the response (none without an origin)."""
    if not origin:
        return {}
    # sendBeacon sends credentials, so the allowed origin must be echoed (not "*") with Allow-Credentials.
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}


def preflight_response(meta: RequestMeta, allowed: bool) -> Response:
    """The answer to a CORS preflight: 204 with what the real request may carry, or 403."""
    if not allowed:
        return json_response(403, {"success": False, "error": "origin_not_allowed"})
    headers = cors_headers(meta.origin)
    headers.update(
        {
            "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
            "Access-Control-Allow-Headers": meta.headers.get("access-control-request-headers")
            or "Content-Type, Authorization",
            "Access-Control-Max-Age": "86400",
        }
    )
    return json_response(204, {}, headers)


def request_meta(request: Request) -> RequestMeta:
    from chalicelib.tracking.ingest import RequestMeta  # lazy: keeps every route's cold start small

    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    source_ip = None
    forwarded = headers.get("x-forwarded-for")
    if forwarded:
        source_ip = forwarded.split(",")[0].strip()
    else:
        source_ip = ((request.context or {}).get("identity") or {}).get("sourceIp")
    return RequestMeta(headers=headers, query=dict(request.query_params or {}), source_ip=source_ip)


def aws_failures_as_503(func: Callable[..., Response]) -> Callable[..., Response]:
    """A storage outage is not the client's fault and must be retried, not dropped: answer 503 so every Segment SDK
    retries the request (they retry on 5xx and 429), and never leak a stack trace."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return func(*args, **kwargs)
        except (ClientError, BotoCoreError, RuntimeError) as exc:
            log.warning("storage unavailable: %s", type(exc).__name__)
            return json_response(
                503,
                {"success": False, "error": "unavailable", "message": "storage is temporarily unavailable; retry"},
                {"Retry-After": "1"},
            )

    return wrapper
