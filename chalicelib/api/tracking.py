"""Segment-compatible HTTP Tracking API: /v1/track, /v1/page, ..., /v1/batch and analytics.js' short paths."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import aws_failures_as_503, json_response, request_meta
from chalicelib.shared.observability import count_ingest

bp = Blueprint(__name__)

# sendBeacon posts text/plain (no preflight); SDKs post JSON; some proxies send no type at all.
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream"]


@bp.route("/v1/{kind}", methods=["POST"], content_types=CONTENT_TYPES)
@aws_failures_as_503
def post_message(kind: str) -> Response:
    from chalicelib.bootstrap import get_ingest_service

    request = bp.current_request
    result = get_ingest_service().handle_post(kind, request.raw_body, request_meta(request))
    count_ingest(result.status, result.body, len(result.accepted))
    return json_response(result.status, result.body, result.headers)


@bp.route("/v1/{kind}", methods=["OPTIONS"])
@aws_failures_as_503
def preflight(kind: str) -> Response:
    from chalicelib.bootstrap import get_ingest_service

    result = get_ingest_service().handle_preflight(request_meta(bp.current_request))
    return json_response(result.status, result.body, result.headers)
