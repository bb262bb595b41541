"""Segment-compatible HTTP Tracking API: /v1/track, /v1/page, ..., /v1/batch and analytics.js' short paths."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import (
    BodyError,
    aws_failures_as_503,
    cors_headers,
    decoded_body,
    json_response,
    preflight_response,
    request_meta,
)
from chalicelib.shared.observability import count_ingest

bp = Blueprint(__name__)

# sendBeacon posts text/plain (no preflight); SDKs post JSON; some proxies send no type at all.
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream"]

# An accepted batch answers 200 even with rejected messages: SDKs retry only on 5xx/429, and the valid ones are stored.
STATUS_BY_OUTCOME = {
    "accepted": 200,
    "invalid": 400,
    "unauthorized": 401,
    "throttled": 429,
    "origin_not_allowed": 403,
    "unknown_endpoint": 404,
}


@bp.route("/v1/{kind}", methods=["POST"], content_types=CONTENT_TYPES)
@aws_failures_as_503
def post_message(kind: str) -> Response:
    return _receive(kind)


# RudderStack's browser SDK sends with its beacon plugin to `<data plane>/beacon/v1/batch?writeKey=...`.
@bp.route("/beacon/v1/{kind}", methods=["POST"], content_types=CONTENT_TYPES)
@aws_failures_as_503
def post_beacon(kind: str) -> Response:
    return _receive(kind)


def _receive(kind: str) -> Response:
    from chalicelib.bootstrap import get_ingest_service

    request = bp.current_request
    meta = request_meta(request)
    try:
        body = decoded_body(request)
    except BodyError as error:
        return error.response()
    result = get_ingest_service().receive(kind, body, meta)
    status = STATUS_BY_OUTCOME[result.outcome]
    count_ingest(status, result.reply, len(result.accepted))
    return json_response(status, result.reply, cors_headers(result.cors_origin))


@bp.route("/sourceConfig", methods=["GET"])
@aws_failures_as_503
def source_config() -> Response:
    """RudderStack's browser SDK fetches its source's settings before it sends anything (its `configUrl`): answer
    them for the write key (Basic auth or `?writeKey=`), with no device-mode destinations, so it becomes ready with
    just a write key and this API as its data plane."""
    from chalicelib.bootstrap import get_ingest_service
    from chalicelib.tracking.ingest import write_key_from_header

    request = bp.current_request
    meta = request_meta(request)
    write_key = write_key_from_header(meta.headers.get("authorization")) or meta.query.get("writeKey")
    source, error = get_ingest_service().authenticate(write_key, meta.source_ip)
    if source is None:
        return json_response(429 if error.code == "too_many_bad_keys" else 401, {"success": False, **error.to_dict()})
    config = {
        "isHosted": False,
        "source": {
            "id": source.source_id,
            "name": source.name or source.source_id,
            "writeKey": write_key,
            "enabled": True,
            "workspaceId": "one2one",
            "config": {},
            "destinations": [],
        },
    }
    origin = meta.origin if source.origin_allowed(meta.origin) else None
    return json_response(200, config, cors_headers(origin))


@bp.route("/sourceConfig", methods=["OPTIONS"])
@aws_failures_as_503
def source_config_preflight() -> Response:
    from chalicelib.bootstrap import get_ingest_service

    meta = request_meta(bp.current_request)
    return preflight_response(meta, get_ingest_service().origin_may_send(meta.origin))


@bp.route("/v1/{kind}", methods=["OPTIONS"])
@aws_failures_as_503
def preflight(kind: str) -> Response:
    from chalicelib.bootstrap import get_ingest_service

    meta = request_meta(bp.current_request)
    return preflight_response(meta, get_ingest_service().origin_may_send(meta.origin))
