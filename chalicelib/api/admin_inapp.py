"""Admin API for in-app messages: list with status, archive, and the per-message report.

Create, read, update and version them through the definitions routes (`PUT /admin/definitions/in_app/{id}`, with
`If-Match` for optimistic concurrency); archiving is disabling (the message stops showing, its history stays).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.admin import admin_only, iam
from chalicelib.api.admin_definitions import _call, _caller, _saved_view
from chalicelib.api.http import json_response

bp = Blueprint(__name__)
KIND = "in_app"


def _definitions() -> Any:
    from chalicelib.bootstrap import get_definitions_service

    return get_definitions_service()


@bp.route("/admin/in-app", methods=["GET"], authorizer=iam)
@admin_only
def list_messages() -> Response:
    def listing() -> Response:
        rows = [
            {
                **e.summary(),
                "kind": e.body.get("kind"),
                "name": e.body.get("name", ""),
                "priority": e.body.get("priority", 0),
            }
            for e in _definitions().effective(KIND)
        ]
        return json_response(200, {"messages": rows})

    return _call(listing)


@bp.route("/admin/in-app/{message_id}/archive", methods=["POST"], authorizer=iam)
@admin_only
def archive_message(message_id: str) -> Response:
    return _call(lambda: _saved_view(_definitions().set_enabled(KIND, message_id, False, by=_caller()), 200))


@bp.route("/admin/in-app/{message_id}/report", methods=["GET"], authorizer=iam)
@admin_only
def message_report(message_id: str) -> Response:
    """Impressions, unique viewers, clickers and dismissals of one message (every sender: triggers, segments and
    scenario steps; a scenario's own report also shows its step's views as opens and its clicks)."""
    from chalicelib.bootstrap import get_engagement_store
    from chalicelib.inapp import report_id

    def read() -> Response:
        _definitions().get(KIND, message_id)  # 404 for an unknown message
        rows = get_engagement_store().rows(report_id(message_id), assignments=False)
        counters = {k: int(v) for row in rows.values() for k, v in row.items() if isinstance(v, (int, float))}
        for name in ("impressions", "viewers", "clicks", "dismissals"):
            counters.setdefault(name, 0)
        viewers = counters["viewers"]
        counters["click_rate"] = round(counters["clicks"] / viewers, 4) if viewers else 0.0  # type: ignore[assignment]
        return json_response(200, {"id": message_id, "report": counters})

    return _call(read)
