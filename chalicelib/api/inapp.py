"""Public in-app fetch for web pages and apps: `GET /v1/in-app?anonymousId=|userId=` with the write key.

One JSON route for both (Amplify / Pinpoint's in-app `syncMessages` equivalent): the messages eligible for this
visitor now, highest priority first. Views, clicks and dismissals come back as ordinary tracked events
(`In-App Message Viewed` / `Clicked` / `Dismissed` with `properties.message_id`) through `/v1/batch`.
"""

from __future__ import annotations

import json

from chalice import Blueprint, Response

from chalicelib.api.http import aws_failures_as_503, preflight_response, request_meta
from chalicelib.api.personalize import source_and_ids

bp = Blueprint(__name__)


def _escaped_json(body: object) -> str:
    """JSON with `<`, `>` and `&` as \\u escapes: marketer text can never close a script or form a tag, even if a
    page inlines the answer (renderers must still set it as text, never as HTML)."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@bp.route("/v1/in-app", methods=["GET"])
@aws_failures_as_503
def in_app_messages() -> Response:
    from chalicelib.bootstrap import get_inapp_service

    refused, headers, ids = source_and_ids()
    if refused is not None:
        return refused
    body = get_inapp_service().fetch(ids["anonymousId"], ids["userId"])
    out: dict[str, str | list[str]] = {"Content-Type": "application/json", "Cache-Control": "private, no-store"}
    out.update(headers)
    return Response(body=_escaped_json(body), status_code=200, headers=out)


@bp.route("/v1/in-app", methods=["OPTIONS"])
@aws_failures_as_503
def in_app_preflight() -> Response:
    from chalicelib.bootstrap import get_ingest_service

    meta = request_meta(bp.current_request)
    return preflight_response(meta, get_ingest_service().origin_may_send(meta.origin))
