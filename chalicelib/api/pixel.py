"""No-JS tracking pixel: `GET /v1/pixel/{type}?data=<base64 JSON>` or plain query parameters; always a 1x1 GIF."""

from __future__ import annotations

import base64
import logging
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import request_meta

bp = Blueprint(__name__)
log = logging.getLogger("one2one")

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
GIF_HEADERS: dict[str, str | list[str]] = {
    "Content-Type": "image/gif",
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
}
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
