"""No-JS tracking pixel: `GET /v1/pixel/{type}?data=<base64 JSON>` or plain query parameters; always a 1x1 GIF."""

from __future__ import annotations

import base64
import logging
from typing import Any

from chalice import Blueprint, Response
from chalice.app import CaseInsensitiveMapping, Request

from chalicelib.api.http import request_meta

bp = Blueprint(__name__)
log = logging.getLogger("one2one")

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
GIF_HEADERS: dict[str, str | list[str]] = {
    "Content-Type": "image/gif",
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
}
# Routes whose answer is always the GIF, whatever the client says it accepts (mail clients and proxies often send no
# Accept header, or `text/html`).
GIF_ROUTES = frozenset({"/v1/pixel/{kind}", "/t/o/{token}"})
GIF_ACCEPT = "image/gif"


@bp.middleware("http")
def gif_whatever_the_accept(event: Request, get_response: Any) -> Response:
    """Let the pixel routes answer the GIF to a request with no Accept header or one without an image type.

    Chalice refuses (400 BadRequest) a binary answer unless the request's Accept matches `app.api.binary_types`, and
    treats a missing Accept as matching nothing (`Chalice._validate_binary_response`, the same check in `chalice
    local`, `chalice.test.Client` and Lambda). RFC 9110 12.5.1: no Accept means any type is acceptable, and an image
    tag gets an image whatever it asked for; so for these routes only, the request is read as accepting the GIF.

    API Gateway (REST, Lambda proxy) decodes our base64 body into bytes only when the request's *first* Accept type
    matches the API's binaryMediaTypes; AWS's advice for clients whose Accept one cannot control (browsers) is to list
    `*/*` (docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html and
    .../api-gateway-payload-encodings-workflow.html). The docs do not say what a request without Accept gets. We did
    not list `*/*`: every JSON and HTML answer would then be base64-encoded, and request bodies passed as binary, on
    every route, which we could not try against a real API Gateway. Tried locally: `chalice.test.Client` and `chalice
    local` (tests/integration/test_pixel_and_assets.py, tests/e2e/test_local_stack.py) get the GIF with no Accept,
    `text/html` and `*/*`; a deployment is untried for those cases."""
    accept = event.headers.get("accept") or ""
    if (event.context or {}).get("resourcePath") in GIF_ROUTES and not any(t in accept for t in (GIF_ACCEPT, "*/*")):
        event.headers = CaseInsensitiveMapping({**dict(event.headers.items()), "accept": GIF_ACCEPT})
    return get_response(event)


TOP_LEVEL = {"userId", "anonymousId", "event", "name", "category", "messageId", "timestamp", "groupId", "previousId"}


def message_from_query(query: dict[str, str], kind: str) -> tuple[str | None, Any]:
    """Plain parameters: ids and names at the top level, everything else as properties (traits for identify)."""
    from chalicelib.tracking.ingest import decode_pixel_data
    from chalicelib.tracking.validation import MessageError

    write_key = query.get("writeKey") or query.get("write_key")
    if "data" in query:
        try:
            data = decode_pixel_data(query["data"])
        except MessageError as exc:
            return write_key, exc
        if isinstance(data, dict):
            write_key = write_key or data.get("writeKey")
        return write_key, data
    message: dict[str, Any] = {}
    bag: dict[str, Any] = {}
    for key, value in query.items():
        if key in {"writeKey", "write_key"}:
            continue
        if key in TOP_LEVEL:
            message[key] = value
        else:
            bag[key] = value
    message["traits" if kind in {"identify", "i"} else "properties"] = bag
    return write_key, message


@bp.route("/v1/pixel/{kind}", methods=["GET"])
def pixel(kind: str) -> Response:
    try:
        record_pixel(kind)
    except Exception:  # noqa: BLE001 - the pixel must answer even when storage is down; the failure is logged
        log.exception("pixel request could not be recorded")
    return Response(body=GIF, status_code=200, headers=GIF_HEADERS)


def record_pixel(kind: str) -> None:
    from chalicelib.bootstrap import get_ingest_service
    from chalicelib.tracking.validation import TYPE_BY_PATH, MessageError

    request = bp.current_request
    meta = request_meta(request)
    meta.browser = True
    service = get_ingest_service()
    write_key, message = message_from_query(meta.query, kind)
    source, _ = service.authenticate(write_key, meta.source_ip)
    if source is None:
        return
    if kind not in TYPE_BY_PATH:
        service.failed.record(source.source_id, {"error": "unknown_type", "field": "type"}, meta.query)
        return
    if isinstance(message, MessageError):
        service.failed.record(source.source_id, message.to_dict(), meta.query)
        return
    service.ingest(source, [message], TYPE_BY_PATH[kind], meta, batch=False)
