"""Admin API for segment exports: start one (a small segment is written before the answer), follow one, list them."""

from __future__ import annotations

import re
import time
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.admin import admin_only, iam
from chalicelib.api.http import json_response

bp = Blueprint(__name__)

MAX_LIST = 100
EXPORT_ID = re.compile(r"^ex-\d{8}T\d{6}Z-[0-9a-f]{6}$")
# The inline step of a small segment stops reading pages after this long (API Gateway answers within 29 s); what is
# left continues on the export queue.
INLINE_BUDGET_SECONDS = 15.0


def _error(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"success": False, "error": code, "message": message}
    if field:
        body["field"] = field
    return json_response(status, body)


def _view(job: Any) -> dict[str, Any]:
    from chalicelib.bootstrap import get_export_service
    from chalicelib.exports import job_view

    url = get_export_service().download_url(job)
    return {**job_view(job), "status_url": f"/admin/exports/{job.export_id}", **({"download_url": url} if url else {})}


@bp.route("/admin/segments/{segment_id}/exports", methods=["POST"], authorizer=iam)
@admin_only
def start_export(segment_id: str) -> Response:
    """Export a segment's members as CSV. 201 with `download_url` when it is already written (a segment of at most
    10,000 members), else 202: follow `status_url` until `status` is `finished`."""
    from chalicelib.bootstrap import get_export_service, get_segment_definitions
    from chalicelib.profiles.config import ConfigError

    try:
        known = {s.name for s in get_segment_definitions().get()}
    except ConfigError as exc:
        return _error(503, "config_invalid", str(exc))
    if segment_id not in known:
        return _error(404, "not_found", f"no segment {segment_id!r}")
    job = get_export_service().start(segment_id, time.monotonic() + INLINE_BUDGET_SECONDS)
    return json_response(201 if job.status == "finished" else 202, _view(job))


@bp.route("/admin/exports/{export_id}", methods=["GET"], authorizer=iam)
@admin_only
def get_export(export_id: str) -> Response:
    """An export's progress (`rows`, `expected`, `status`) and, once finished, a download link valid for an hour."""
    from chalicelib.bootstrap import get_export_service

    job = get_export_service().status(export_id) if EXPORT_ID.match(export_id) else None
    if job is None:
        return _error(404, "not_found", f"no export {export_id!r}")
    return json_response(200, _view(job))


@bp.route("/admin/exports", methods=["GET"], authorizer=iam)
@admin_only
def list_exports() -> Response:
    """The most recent exports, newest first (`?limit=`, 1 to 100, default 20)."""
    from chalicelib.bootstrap import get_export_service
    from chalicelib.exports import job_view

    raw = dict(bp.current_request.query_params or {}).get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        return _error(400, "invalid_parameter", f"limit must be an integer from 1 to {MAX_LIST}", "limit")
    jobs = get_export_service().recent(int(raw))
    return json_response(200, {"count": len(jobs), "items": [job_view(j) for j in jobs]})
