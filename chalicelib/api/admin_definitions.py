"""Admin API for run-time definitions (segments, scenarios, templates): list, read, save, enable/disable, history."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.admin import admin_only, iam
from chalicelib.api.http import json_response

bp = Blueprint(__name__)

LOCAL_ADMIN = "local-admin"


def _error(status: int, code: str, message: str, field: str | None = None) -> Response:
    return json_response(status, {"success": False, "error": code, "message": message, "field": field})


def _caller() -> str:
    """Who made the change: the IAM caller API Gateway authenticated (`requestContext.identity.userArn`), or
    `local-admin` on the local stack, where the bearer token stands in for IAM."""
    context: dict[str, Any] = bp.current_request.context or {}
    identity = context.get("identity") or {}
    return str(identity.get("userArn") or identity.get("caller") or LOCAL_ADMIN)


def _expected_version() -> int | None:
    """`If-Match: <version>` (an ETag, quotes allowed) or `?expected_version=`; ValueError when not a whole number."""
    headers: dict[str, str] = dict(bp.current_request.headers or {})
    query: dict[str, str] = dict(bp.current_request.query_params or {})
    raw = headers.get("if-match") or query.get("expected_version")
    if raw is None:
        return None
    raw = raw.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise ValueError(raw)
    return int(raw)


def _call(action: Any) -> Response:
    """Run one use-case call and translate the definitions wing's errors to 4xx."""
    from chalicelib.definitions import DefinitionConflict, DefinitionInvalid, DefinitionNotFound

    try:
        return action()
    except DefinitionInvalid as exc:
        return _error(400, "invalid_definition", exc.message, exc.path or None)
    except DefinitionConflict as exc:
        message = f"version {exc.expected} is not the head (head: {exc.actual}); read it again and re-apply"
        return _error(409, "version_conflict", message, "If-Match")
    except DefinitionNotFound as exc:
        return _error(404, "not_found", str(exc))


def _service() -> Any:
    from chalicelib.bootstrap import get_definitions_service

    return get_definitions_service()


def _head_view(effective: Any) -> dict[str, Any]:
    return {**effective.summary(), "body": effective.body}


def _saved_view(saved: Any, status: int) -> Response:
    d = saved.definition
    body = {
        "success": True,
        "kind": d.kind,
        "id": d.id,
        "version": d.version,
        "enabled": d.enabled,
        "origin": "stored",
        "updated_at": d.updated_at,
        "updated_by": d.updated_by,
        "changed": list(saved.changed),
        "backfill_job": saved.backfill_job,
    }
    return json_response(status, body, headers={"ETag": f'"{d.version}"'})


@bp.route("/admin/definitions/{kind}", methods=["GET"], authorizer=iam)
@admin_only
def list_definitions(kind: str) -> Response:
    return _call(
        lambda: json_response(200, {"kind": kind, "definitions": [e.summary() for e in _service().effective(kind)]})
    )


@bp.route("/admin/definitions/{kind}/{definition_id}", methods=["GET"], authorizer=iam)
@admin_only
def get_definition(kind: str, definition_id: str) -> Response:
    def read() -> Response:
        found = _service().get(kind, definition_id)
        return json_response(200, _head_view(found), headers={"ETag": f'"{found.version}"'})

    return _call(read)


@bp.route("/admin/definitions/{kind}/{definition_id}", methods=["PUT"], authorizer=iam)
@admin_only
def put_definition(kind: str, definition_id: str) -> Response:
    """Save a new version. Body: the same JSON as the packaged file's definition. `If-Match: <version>` (or
    `?expected_version=`; 0 = create only) makes it conditional: 409 when another save won."""
    try:
        expected = _expected_version()
    except ValueError:
        return _error(400, "invalid_parameter", "If-Match must be a version number", "If-Match")
    try:
        body = bp.current_request.json_body
    except Exception:  # noqa: BLE001 - chalice raises its own BadRequestError on bad JSON
        return _error(400, "invalid_json", "the body must be a JSON object")
    if not isinstance(body, dict):
        return _error(400, "invalid_json", "the body must be a JSON object")

    def save() -> Response:
        saved = _service().put(kind, definition_id, body, by=_caller(), expected_version=expected)
        return _saved_view(saved, 201 if saved.created else 200)

    return _call(save)


def _set_enabled(kind: str, definition_id: str, enabled: bool) -> Response:
    try:
        expected = _expected_version()
    except ValueError:
        return _error(400, "invalid_parameter", "If-Match must be a version number", "If-Match")
    return _call(
        lambda: _saved_view(
            _service().set_enabled(kind, definition_id, enabled, by=_caller(), expected_version=expected), 200
        )
    )


@bp.route("/admin/definitions/{kind}/{definition_id}/enable", methods=["POST"], authorizer=iam)
@admin_only
def enable_definition(kind: str, definition_id: str) -> Response:
    return _set_enabled(kind, definition_id, True)


@bp.route("/admin/definitions/{kind}/{definition_id}/disable", methods=["POST"], authorizer=iam)
@admin_only
def disable_definition(kind: str, definition_id: str) -> Response:
    return _set_enabled(kind, definition_id, False)


def _version_view(v: Any) -> dict[str, Any]:
    return {"version": v.version, "created_at": v.created_at, "created_by": v.created_by}


@bp.route("/admin/definitions/{kind}/{definition_id}/versions", methods=["GET"], authorizer=iam)
@admin_only
def list_versions(kind: str, definition_id: str) -> Response:
    return _call(
        lambda: json_response(
            200, {"id": definition_id, "versions": [_version_view(v) for v in _service().versions(kind, definition_id)]}
        )
    )


@bp.route("/admin/definitions/{kind}/{definition_id}/versions/{version}", methods=["GET"], authorizer=iam)
@admin_only
def get_version(kind: str, definition_id: str, version: str) -> Response:
    if not version.isdigit() or int(version) < 1:
        return _error(400, "invalid_parameter", "version must be a whole number from 1", "version")

    def read() -> Response:
        found = _service().version(kind, definition_id, int(version))
        return json_response(200, {"id": definition_id, **_version_view(found), "body": found.body})

    return _call(read)


@bp.route("/admin/definitions/{kind}/{definition_id}/audit", methods=["GET"], authorizer=iam)
@admin_only
def get_audit(kind: str, definition_id: str) -> Response:
    return _call(
        lambda: json_response(
            200, {"id": definition_id, "audit": [e.to_dict() for e in _service().audit(kind, definition_id)]}
        )
    )
