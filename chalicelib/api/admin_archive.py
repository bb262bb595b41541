"""Admin API for the event archive's upkeep: refill the batches whose archive write failed, now."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.admin import admin_only, iam
from chalicelib.api.http import json_response

bp = Blueprint(__name__)


@bp.route("/admin/archive/refills", methods=["POST"], authorizer=iam)
@admin_only
def refill_archive() -> Response:
    """Re-write every recorded failed archive batch from the events table (the daily compaction does it too):
    `{"batches", "events", "missing"}`; `missing` counts events already gone from the table (TTL, erasure)."""
    from chalicelib.bootstrap import get_archive_maintenance

    return json_response(200, get_archive_maintenance().refill())
