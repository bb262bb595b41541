"""Privacy admin routes: right of access (export) and right to erasure."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.admin import iam, local_token_error
from chalicelib.api.http import aws_failures_as_503, json_response

bp = Blueprint(__name__)


def _service() -> Any:
    from chalicelib.bootstrap import get_privacy_service

    return get_privacy_service()


@bp.route("/admin/profiles/{profile_id}/export", methods=["GET"], authorizer=iam)
@aws_failures_as_503
def export_profile(profile_id: str) -> Response:
    from chalicelib.privacy.exceptions import NotFound

    if (denied := local_token_error()) is not None:
        return denied
    try:
        return json_response(200, _service().export(profile_id))
    except NotFound as exc:
        return json_response(404, {"error": "not_found", "message": str(exc)})


@bp.route("/admin/profiles/{profile_id}", methods=["DELETE"], authorizer=iam)
@aws_failures_as_503
def erase_profile(profile_id: str) -> Response:
    from chalicelib.privacy.exceptions import NotFound

    if (denied := local_token_error()) is not None:
        return denied
    try:
        return json_response(200, _service().erase(profile_id))
    except NotFound as exc:
        return json_response(404, {"error": "not_found", "message": str(exc)})
