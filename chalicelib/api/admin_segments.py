"""Admin API for segments: the configured segments with their sizes, and who is in one (paginated Query)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.admin import iam, local_token_error
from chalicelib.api.http import aws_failures_as_503, json_response

bp = Blueprint(__name__)

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def _segments() -> list[Any] | Response:
    from chalicelib.bootstrap import get_segment_definitions
    from chalicelib.profiles.config import ConfigError

    try:
        return list(get_segment_definitions().get())
    except ConfigError as exc:
        return json_response(503, {"success": False, "error": "config_invalid", "message": str(exc)})


@bp.route("/admin/segments", methods=["GET"], authorizer=iam)
@aws_failures_as_503
def list_segments() -> Response:
    from chalicelib.bootstrap import get_segment_membership_service

    if (denied := local_token_error()) is not None:
        return denied
    segments = _segments()
    if isinstance(segments, Response):
        return segments
    sizes = get_segment_membership_service().sizes()
    items = [
        {
            "id": s.name,
            "name": s.name,
            "description": s.description,
            "enabled": s.enabled,
            "rule": s.rule.model_dump(mode="json", by_alias=True, exclude_defaults=True),
            "size": max(0, sizes.get(s.name, 0)),
        }
        for s in segments
    ]
    return json_response(200, {"count": len(items), "items": items})


@bp.route("/admin/segments/{segment_id}/members", methods=["GET"], authorizer=iam)
@aws_failures_as_503
def segment_members(segment_id: str) -> Response:
    from chalicelib.bootstrap import get_segment_membership_service

    if (denied := local_token_error()) is not None:
        return denied
    segments = _segments()
    if isinstance(segments, Response):
        return segments
    if segment_id not in {s.name for s in segments}:
        return json_response(404, {"success": False, "error": "not_found", "message": f"no segment {segment_id!r}"})
    query: Mapping[str, str] = bp.current_request.query_params or {}
    raw_limit = query.get("limit", str(DEFAULT_PAGE))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
        return json_response(
            400,
            {
                "success": False,
                "error": "invalid_parameter",
                "field": "limit",
                "message": f"limit must be an integer from 1 to {MAX_PAGE}",
            },
        )
    service = get_segment_membership_service()
    try:
        rows, cursor = service.members(segment_id, int(raw_limit), query.get("cursor") or None)
    except ValueError:
        return json_response(
            400, {"success": False, "error": "invalid_parameter", "field": "cursor", "message": "cursor is not valid"}
        )
    return json_response(
        200,
        {
            "segment": segment_id,
            "size": max(0, service.sizes().get(segment_id, 0)),
            "count": len(rows),
            "items": rows,
            "next_cursor": cursor,
        },
    )
