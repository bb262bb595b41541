"""Public reads for pages: `GET /v1/personalize` (slot content) and `GET /v1/recommendations`, with the write key.

Both answer only what a page may show its own visitor, for a source's allowed origins (CORS as the tracking routes).
A visitor who gave no id at all (a first page view: tracker.js leaves its brand-new anonymous id out) gets the
same answer as every other first visit, so it may be cached publicly; anything about a known person is not stored.
"""

from __future__ import annotations

import re

from chalice import Blueprint, Response

from chalicelib.api.http import aws_failures_as_503, cors_headers, json_response, preflight_response, request_meta

bp = Blueprint(__name__)
SLOT_LIST = re.compile(r"^[A-Za-z0-9_-]{1,40}(,[A-Za-z0-9_-]{1,40}){0,9}$")
# Popular lists move slowly: a minute keeps a burst of first visits off DynamoDB.
FIRST_VISIT_CACHE = "public, max-age=60"


def _refused(status: int, error: str, message: str, field: str | None = None) -> Response:
    body = {"success": False, "error": error, "message": message}
    if field:
        body["field"] = field
    return json_response(status, body)


def _source_and_ids() -> tuple[Response | None, dict[str, str], dict[str, str | None]]:
    """(refusal or None, CORS headers, {anonymousId, userId}) after the write key and origin checks."""
    from chalicelib.bootstrap import get_ingest_service
    from chalicelib.tracking.ingest import write_key_from_header

    meta = request_meta(bp.current_request)
    write_key = write_key_from_header(meta.headers.get("authorization")) or meta.query.get("writeKey")
    source, error = get_ingest_service().authenticate(write_key, meta.source_ip)
    if source is None:
        status = 429 if error.code == "too_many_bad_keys" else 401
        return _refused(status, error.code, error.message), {}, {}
    if not source.origin_allowed(meta.origin):
        return _refused(403, "origin_not_allowed", f"origin {meta.origin} is not allowed"), {}, {}
    ids: dict[str, str | None] = {}
    for name in ("anonymousId", "userId"):
        value = meta.query.get(name)
        if value is not None and (not value.strip() or len(value) > 200):
            return _refused(400, "invalid", f"{name} must be 1-200 characters", name), {}, {}
        ids[name] = value
    return None, cors_headers(meta.origin), ids


source_and_ids = _source_and_ids  # the in-app route (api/inapp.py) checks the write key and ids the same way


def _cache_control(ids: dict[str, str | None]) -> str:
    return FIRST_VISIT_CACHE if not any(ids.values()) else "private, no-store"


@bp.route("/v1/personalize", methods=["GET"])
@aws_failures_as_503
def personalize() -> Response:
    from chalicelib.bootstrap import get_personalization_service

    refused, headers, ids = _source_and_ids()
    if refused is not None:
        return refused
    query: dict[str, str] = dict(bp.current_request.query_params or {})
    slots = query.get("slots")
    if not slots or not SLOT_LIST.match(slots):
        return _refused(400, "invalid", "slots: 1-10 comma-separated slot ids (letters, digits, _ or -)", "slots")
    body = get_personalization_service().personalize(ids["anonymousId"], ids["userId"], slots.split(","))
    return json_response(200, body, {**headers, "Cache-Control": _cache_control(ids)})


@bp.route("/v1/recommendations", methods=["GET"])
@aws_failures_as_503
def recommendations() -> Response:
    from chalicelib.bootstrap import get_personalization_service

    refused, headers, ids = _source_and_ids()
    if refused is not None:
        return refused
    query: dict[str, str] = dict(bp.current_request.query_params or {})
    raw = query.get("limit", "10")
    if not raw.isdigit() or not 1 <= int(raw) <= 20:
        return _refused(400, "invalid", "limit must be a whole number from 1 to 20", "limit")
    body = get_personalization_service().recommend(ids["anonymousId"], ids["userId"], int(raw))
    return json_response(200, body, {**headers, "Cache-Control": _cache_control(ids)})


@bp.route("/v1/personalize", methods=["OPTIONS"])
@bp.route("/v1/recommendations", methods=["OPTIONS"])
@aws_failures_as_503
def preflight() -> Response:
    from chalicelib.bootstrap import get_ingest_service

    meta = request_meta(bp.current_request)
    return preflight_response(meta, get_ingest_service().origin_may_send(meta.origin))
