"""Segment-compatible HTTP Tracking API: /v1/track, /v1/page, ..., /v1/batch and analytics.js' short paths."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import aws_failures_as_503, cors_headers, json_response, preflight_response, request_meta
from chalicelib.shared.observability import count_ingest

bp = Blueprint(__name__)

# sendBeacon posts text/plain (no preflight); SDKs post JSON; some proxies send no type at all.
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream"]

# An accepted batch answers 200 even with rejected messages: SDKs retry only on 5xx/429, and the valid ones are stored.
STATUS_BY_OUTCOME = {
    "accepted": 200,
    "invalid": 400,
    "unauthorized": 401,
    "origin_not_allowed": 403,
    "unknown_endpoint": 404,
}


@bp.route("/v1/{kind}", methods=["POST"], content_types=CONTENT_TYPES)
@aws_failures_as_503
def post_message(kind: str) -> Response:
    from chalicelib.bootstrap import get_ingest_service

    request = bp.current_request
    result = get_ingest_service().receive(kind, request.raw_body, request_meta(request))
    status = STATUS_BY_OUTCOME[result.outcome]
    count_ingest(status, result.reply, len(result.accepted))
    return json_response(status, result.reply, cors_headers(result.cors_origin))


@bp.route("/v1/{kind}", methods=["OPTIONS"])
@aws_failures_as_503
def preflight(kind: str) -> Response:
    from chalicelib.bootstrap import get_ingest_service

    meta = request_meta(bp.current_request)
    return preflight_response(meta, get_ingest_service().origin_may_send(meta.origin))
