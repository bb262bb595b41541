"""`GET /openapi.json`: the OpenAPI document of this app, generated from its route table once per warm Lambda."""

from __future__ import annotations

import json

from chalice import Blueprint, Response

bp = Blueprint(__name__)
_cache: dict[int, str] = {}


def openapi_text(app: object) -> str:
    """The document as JSON text, built on first use: generating it imports pydantic's schema machinery."""
    key = id(app)
    if key not in _cache:
        from chalicelib.api.openapi_spec import build_openapi

        _cache[key] = json.dumps(build_openapi(app), separators=(",", ":"))
    return _cache[key]


@bp.route("/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    """This OpenAPI document."""
    return Response(
        body=openapi_text(bp.current_app),
        status_code=200,
        headers={"Content-Type": "application/json", "Cache-Control": "public, max-age=300"},
    )
