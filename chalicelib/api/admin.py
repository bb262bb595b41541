"""Admin API (IAM-authorised in AWS; the local stack requires `Authorization: Bearer $ONE2ONE_LOCAL_ADMIN_TOKEN`)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from chalice import Blueprint, IAMAuthorizer, Response

from chalicelib.api.http import aws_failures_as_503, json_response

bp = Blueprint(__name__)
iam = IAMAuthorizer()


def _forbidden(role: str | None, method: str, path: str) -> Response:
    from chalicelib.api import session

    needed = session.required_role(method, path)
    message = f"your role ({role or 'none'}) cannot do this: it needs {needed}"
    return json_response(403, {"error": "forbidden", "message": message, "role": role, "needs": needed})


def role_error() -> Response | None:
    """Deployed, where API Gateway's Cognito authorizer let a person in: a 403 unless their group allows this
    request (IAM callers have no claims and are admins)."""
    from chalicelib.api import session

    request = bp.current_request
    person = session.claims_caller(dict(request.context or {}))
    path = session.filled(request.path, request.uri_params)
    if person is None or session.allowed(person.role, request.method, path):
        return None
    return _forbidden(person.role, request.method, path)


def local_token_error(*, allow_query: bool = False) -> Response | None:
    """In AWS the IAM authorizer has already run. Locally (where the env var is set) a bearer token stands in; with
    `allow_query`, also `?token=` (a page of the local tools opened in a browser cannot send a header); and the
    console's session cookie (api/session.py), which a browser signed in with that token sends by itself."""
    from chalicelib.api import session
    from chalicelib.shared.settings import get_settings

    token = get_settings().local_admin_token
    if not token:
        return role_error()
    headers: dict[str, str] = dict(bp.current_request.headers or {})
    header = headers.get("authorization", "")
    presented = [header[7:].strip() if header.lower().startswith("bearer ") else ""]
    if allow_query:
        query: dict[str, str] = dict(bp.current_request.query_params or {})
        presented.append(query.get("token", ""))
    if any(p and hmac.compare_digest(p.encode(), token.encode()) for p in presented):
        return None
    if (cookie := session.from_headers(headers)) is not None and (role := session.session_role(cookie, token)):
        request = bp.current_request
        path = session.filled(request.path, request.uri_params)
        if not session.allowed(role, request.method, path):
            return _forbidden(role, request.method, path)
        return None
    return json_response(401, {"error": "unauthorized", "message": "admin API needs Authorization: Bearer <token>"})


def admin_only(view: Callable[..., Response]) -> Callable[..., Response]:
    """The one guard of every admin route (register the route with `authorizer=iam`): the local bearer token where
    it is configured, then the view, with a storage outage answered 503 (see `aws_failures_as_503`)."""
    guarded_view = aws_failures_as_503(view)

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Response:
        if (denied := local_token_error()) is not None:
            return denied
        return guarded_view(*args, **kwargs)

    return guarded


def _int_param(name: str, default: int, low: int, high: int) -> int:
    query: dict[str, str] = dict(bp.current_request.query_params or {})
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return value


def _json_object() -> dict[str, Any] | None:
    """The request's JSON object body ({} when empty), or None when it is not JSON or not an object."""
    try:
        body = bp.current_request.json_body or {}
    except Exception:  # noqa: BLE001 - chalice raises its own BadRequestError on bad JSON
        return None
    return body if isinstance(body, dict) else None


def _admin_service() -> Any:
    from chalicelib.bootstrap import (
        get_event_store,
        get_identity_store,
        get_model_store,
        get_profile_store,
        get_propensity_store,
    )
    from chalicelib.profiles.lookup import AdminService

    return AdminService(
        get_profile_store(), get_identity_store(), get_event_store(), get_model_store(), get_propensity_store()
    )


@bp.route("/admin/profiles/{profile_id}", methods=["GET"], authorizer=iam)
@admin_only
def get_profile(profile_id: str) -> Response:
    from chalicelib.profiles.lookup import NotFound

    try:
        limit = _int_param("events", 50, 1, 500)
        return json_response(200, _admin_service().profile_view(profile_id, limit))
    except ValueError as exc:
        return json_response(400, {"error": "invalid_parameter", "message": str(exc)})
    except NotFound as exc:
        return json_response(404, {"error": "not_found", "message": str(exc)})


@bp.route("/admin/profiles", methods=["GET"], authorizer=iam)
@admin_only
def find_profile() -> Response:
    from chalicelib.profiles.lookup import NotFound

    query: dict[str, str] = dict(bp.current_request.query_params or {})
    service = _admin_service()
    try:
        limit = _int_param("events", 50, 1, 500)
        profile_id = service.resolve(query.get("anonymous_id"), query.get("user_id"), query.get("email"))
        return json_response(200, service.profile_view(profile_id, limit))
    except ValueError as exc:
        return json_response(400, {"error": "invalid_parameter", "message": str(exc)})
    except NotFound as exc:
        return json_response(404, {"error": "not_found", "message": str(exc)})


@bp.route("/admin/failed-events", methods=["GET"], authorizer=iam)
@admin_only
def failed_events() -> Response:
    from chalicelib.bootstrap import get_failed_event_store

    query: dict[str, str] = dict(bp.current_request.query_params or {})
    day = query.get("day") or datetime.now(UTC).strftime("%Y-%m-%d")
    try:
        datetime.strptime(day, "%Y-%m-%d")
        limit = _int_param("limit", 50, 1, 500)
    except ValueError as exc:
        return json_response(400, {"error": "invalid_parameter", "message": str(exc)})
    try:
        rows, cursor = get_failed_event_store().list(day, limit, query.get("cursor"))
    except (ValueError, TypeError, KeyError):
        return json_response(400, {"error": "invalid_parameter", "message": "cursor is not valid"})
    return json_response(200, {"day": day, "count": len(rows), "items": rows, "next_cursor": cursor})


@bp.route("/admin/sources", methods=["POST"], authorizer=iam)
@admin_only
def create_source() -> Response:
    """Create (or rotate) a source: `kind` client (default: a public key for browsers and apps) or server (a secret
    key for the shop's backend). The write key (and a client source's identity secret) is returned once."""
    import secrets

    from chalicelib.bootstrap import get_source_registry

    body = _json_object()
    if body is None:
        return json_response(400, {"error": "invalid_json", "message": "body must be a JSON object"})
    source_id = body.get("source_id")
    origins = body.get("allowed_origins", [])
    if not isinstance(source_id, str) or not source_id.strip() or len(source_id) > 64:
        return json_response(400, {"error": "invalid_field", "field": "source_id", "message": "source_id required"})
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        return json_response(
            400, {"error": "invalid_field", "field": "allowed_origins", "message": "must be a list of strings"}
        )
    kind = body.get("kind", "client")
    if kind not in ("client", "server"):
        return json_response(
            400,
            {"error": "invalid_field", "field": "kind", "message": "kind must be client (browsers, apps) or server"},
        )
    from pydantic import ValidationError

    from chalicelib.tracking.sources import SourceSettings

    try:  # where mail built from this source's events links back to (shop home, cart page)
        settings = SourceSettings.model_validate(body.get("settings") or {})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(["settings", *(str(part) for part in err["loc"])])
        return json_response(400, {"error": "invalid_field", "field": field, "message": err["msg"]})
    write_key = secrets.token_urlsafe(24)
    # A client source's userIds, addresses, consent and revenue need identity tokens signed with this secret.
    identity_secret = secrets.token_urlsafe(32) if kind == "client" else None
    source = get_source_registry().upsert_source(
        source_id.strip(),
        write_key,
        origins,
        str(body.get("name", "")),
        kind=kind,
        identity_secret=identity_secret,
    )
    if settings != SourceSettings():
        source = source.model_copy(update={"settings": settings})
        get_source_registry().save(source)
    created = {
        "source_id": source.source_id,
        "kind": source.kind,
        "write_key": write_key,
        "allowed_origins": source.allowed_origins,
        "settings": source.settings.model_dump(),
    }
    if identity_secret is not None:
        created["identity_secret"] = identity_secret  # shown once: the shop's backend signs identity tokens with it
    return json_response(201, created)


def _key_view(source: Any, now: datetime) -> dict[str, Any]:
    return {
        "source_id": source.source_id,
        "name": source.name,
        "kind": source.kind,
        "key_id": source.key_id,
        "allowed_origins": source.allowed_origins,
        "settings": source.settings.model_dump(),
        "created_at": source.created_at,
        "expires_at": source.expires_at,
        "revoked_at": source.revoked_at,
        "active": source.usable(now),
    }


@bp.route("/admin/sources", methods=["GET"], authorizer=iam)
@admin_only
def list_sources() -> Response:
    """Every write key (by its key id: the key itself is never stored), active or not."""
    from chalicelib.bootstrap import get_source_registry
    from chalicelib.shared.clock import get_clock

    now = get_clock().now()
    keys = sorted(get_source_registry().keys(), key=lambda s: (s.source_id, s.created_at or ""))
    return json_response(200, {"sources": [_key_view(s, now) for s in keys]})


@bp.route("/admin/sources/{source_id}/rotate", methods=["POST"], authorizer=iam)
@admin_only
def rotate_source_key(source_id: str) -> Response:
    """`{"grace_hours": 24}`: a new write key (returned once); the source's other keys stop after the grace period."""
    from datetime import timedelta

    from chalicelib.bootstrap import get_source_registry
    from chalicelib.shared.clock import get_clock
    from chalicelib.tracking.keys import UnknownSource, rotate

    body = _json_object()
    if body is None:
        return json_response(400, {"error": "invalid_json", "message": "body must be a JSON object"})
    grace_hours = body.get("grace_hours", 24)
    if isinstance(grace_hours, bool) or not isinstance(grace_hours, int | float):
        return json_response(
            400, {"error": "invalid_field", "field": "grace_hours", "message": "grace_hours must be a number"}
        )
    now = get_clock().now()
    try:
        write_key, source = rotate(get_source_registry(), source_id, timedelta(hours=grace_hours), now)
    except ValueError as exc:
        return json_response(400, {"error": "invalid_field", "field": "grace_hours", "message": str(exc)})
    except UnknownSource as exc:
        return json_response(404, {"error": "not_found", "message": str(exc)})
    return json_response(201, {**_key_view(source, now), "write_key": write_key})


@bp.route("/admin/sources/{source_id}/keys/{key_id}/revoke", methods=["POST"], authorizer=iam)
@admin_only
def revoke_source_key(source_id: str, key_id: str) -> Response:
    """Stop one write key now (warm functions may accept it for up to a minute more: their cache)."""
    from chalicelib.bootstrap import get_source_registry
    from chalicelib.shared.clock import get_clock
    from chalicelib.tracking.keys import UnknownSource, revoke

    now = get_clock().now()
    try:
        source = revoke(get_source_registry(), source_id, key_id, now)
    except UnknownSource as exc:
        return json_response(404, {"error": "not_found", "message": str(exc)})
    return json_response(200, _key_view(source, now))


@bp.route("/admin/failed-events/replay", methods=["POST"], authorizer=iam)
@admin_only
def replay_failed_events() -> Response:
    """`{"day": "YYYY-MM-DD", "reason": "fold_failed"?, "profile_id": "p_..."?}`: re-drive one day's failed events
    after a fix (tracking/replay.py); idempotent. Answers what was replayed and what could not be."""
    from dataclasses import asdict

    from chalicelib.bootstrap import get_ingest_service
    from chalicelib.tracking.replay import replay_failed

    body = _json_object()
    if body is None:
        return json_response(400, {"error": "invalid_json", "message": "body must be a JSON object"})
    day = body.get("day")
    try:
        if not isinstance(day, str):
            raise ValueError("day is required (YYYY-MM-DD)")
        datetime.strptime(day, "%Y-%m-%d")
    except ValueError as exc:
        return json_response(400, {"error": "invalid_field", "field": "day", "message": str(exc)})
    for name in ("reason", "profile_id"):
        if body.get(name) is not None and not isinstance(body[name], str):
            return json_response(400, {"error": "invalid_field", "field": name, "message": f"{name} must be a string"})
    report = replay_failed(
        day,
        get_ingest_service(),
        reason=body.get("reason"),
        profile_id=body.get("profile_id"),
    )
    return json_response(200, asdict(report))
