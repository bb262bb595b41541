"""Admin API for segment backfills: start one by hand, follow one, list the recent ones."""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.admin import admin_only, iam
from chalicelib.api.http import json_response

bp = Blueprint(__name__)

MAX_LIST = 100
JOB_ID = re.compile(r"^bf-\d{8}T\d{6}Z-[0-9a-f]{6}$")


def _error(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"success": False, "error": code, "message": message}
    if field:
        body["field"] = field
    return json_response(status, body)


@bp.route("/admin/segments/{segment_id}/backfill", methods=["POST"], authorizer=iam)
@admin_only
def start_backfill(segment_id: str) -> Response:
    """Evaluate a configured segment over every existing profile now (body: optional `{"reason": "..."}`)."""
    from chalicelib.bootstrap import get_backfill_service
    from chalicelib.profiles.backfill import job_view
    from chalicelib.profiles.config import ConfigError, load_profile_config

    request = bp.current_request
    try:
        body = request.json_body if (request.raw_body or b"").strip() else {}
    except Exception:  # noqa: BLE001 - chalice raises its own BadRequestError on bad JSON
        return _error(400, "invalid_json", "the body must be a JSON object")
    if not isinstance(body, dict):
        return _error(400, "invalid_json", "the body must be a JSON object")
    reason = body.get("reason", "started by hand")
    if not isinstance(reason, str) or len(reason) > 200:
        return _error(400, "invalid_parameter", "reason must be a string of at most 200 characters", "reason")
    try:
        segments = {s.name for s in load_profile_config().segments.segments}
    except ConfigError as exc:
        return _error(503, "config_invalid", str(exc))
    if segment_id not in segments:
        return _error(404, "not_found", f"no segment {segment_id!r}")
    service = get_backfill_service()
    job_id = service.start([segment_id], reason)
    job = service.status(job_id)
    return json_response(
        202,
        {"job_id": job_id, "status_url": f"/admin/backfills/{job_id}", **(job_view(job) if job else {})},
    )


@bp.route("/admin/backfills/{job_id}", methods=["GET"], authorizer=iam)
@admin_only
def get_backfill(job_id: str) -> Response:
    """A backfill's progress: scan segments total/done, profiles evaluated/written/skipped, started/finished."""
    from chalicelib.bootstrap import get_backfill_service
    from chalicelib.profiles.backfill import job_view

    job = get_backfill_service().status(job_id) if JOB_ID.match(job_id) else None
    if job is None:
        return _error(404, "not_found", f"no backfill job {job_id!r}")
    return json_response(200, job_view(job))


@bp.route("/admin/backfills", methods=["GET"], authorizer=iam)
@admin_only
def list_backfills() -> Response:
    """The most recent backfill jobs, newest first (`?limit=`, 1 to 100, default 20)."""
    from chalicelib.bootstrap import get_backfill_service
    from chalicelib.profiles.backfill import job_view

    raw = dict(bp.current_request.query_params or {}).get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        return _error(400, "invalid_parameter", f"limit must be an integer from 1 to {MAX_LIST}", "limit")
    jobs = get_backfill_service().recent(int(raw))
    return json_response(200, {"count": len(jobs), "items": [job_view(j) for j in jobs]})
