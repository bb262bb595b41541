"""Admin API for broadcasts: drafts, scheduling, pause / resume / cancel, and progress with the scenario report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.admin import admin_only, iam
from chalicelib.api.http import json_response

bp = Blueprint(__name__)


def _body() -> tuple[Any, Response | None]:
    try:
        return bp.current_request.json_body, None
    except Exception:  # noqa: BLE001 - Chalice raises its BadRequestError for a body that is not JSON
        return None, json_response(
            400, {"success": False, "error": "invalid_json", "message": "the body must be JSON", "field": None}
        )


def _call(action: Callable[[], Any], status: int = 200) -> Response:
    from chalicelib.broadcasts import BroadcastError

    try:
        return json_response(status, action())
    except BroadcastError as exc:
        body = {"success": False, "error": exc.code, "message": exc.message, "field": exc.field}
        return json_response(exc.status, body)


def _service() -> Any:
    from chalicelib.bootstrap import get_broadcast_service

    return get_broadcast_service()


def _with_results(document: dict[str, Any]) -> dict[str, Any]:
    """The broadcast with its results: the derived scenario's report rows (sent, delivered, opens, clicks...)."""
    from chalicelib.api.admin_reports import scenario_report
    from chalicelib.bootstrap import get_engagement_store

    rows = get_engagement_store().rows(document["scenario_id"])
    report = scenario_report(document["scenario_id"], rows) if rows else None
    return {**document, "results": report}


def _test_send(broadcast_id: str, body: Any) -> dict[str, Any]:
    """`POST /admin/broadcasts/{id}/test` `{"to": [...], "profile_id"?: ...}`: every template of the broadcast (each
    variant) rendered for that profile, or an empty one, and sent to the given addresses only, marked as a test and
    counted nowhere (see delivery/test_sends)."""
    from chalicelib.bootstrap import get_delivery_service, get_profile_store, render_template
    from chalicelib.broadcasts import BroadcastError
    from chalicelib.delivery import templating
    from chalicelib.delivery.shop_links import shop_links
    from chalicelib.delivery.test_sends import TestSendError, send_tests

    if not isinstance(body, dict):
        raise BroadcastError(400, "invalid_body", "the body must be a JSON object with 'to'")
    broadcast = _service().broadcast(broadcast_id)
    if broadcast is None:
        raise BroadcastError(404, "not_found", f"no broadcast {broadcast_id!r}")
    profile: dict[str, Any] = {"profile_id": "test"}
    if body.get("profile_id") is not None:
        stored = get_profile_store().get(str(body["profile_id"]))
        if stored is None or not stored.live:
            raise BroadcastError(404, "not_found", f"no profile {body['profile_id']!r}", "profile_id")
        profile = stored.document()
    service = get_delivery_service()
    base = service.links.public_base_url
    extra: dict[str, Any] = {
        "currency": service.config.currency,
        "default_locale": service.config.default_locale,
        "unsubscribe_url": f"{base}/u/preview",  # inert: a test recipient is not the person
        "preferences_url": f"{base}/preferences/preview",
        **shop_links(service.sources() if service.sources else [], None, fallback_shop_url=service.config.shop_url),
    }
    try:
        sent = send_tests(
            channel=broadcast.channel,
            templates=[template for _, template in broadcast.templates()],
            to=body.get("to"),
            profile=profile,
            render=lambda template, person, context: render_template(
                template, person, context, channel=broadcast.channel
            ),
            extra=extra,
            email=service.email,
            notifier=service.notifier,
            sms_countries=service.config.sms_countries,
        )
    except TestSendError as exc:
        raise BroadcastError(400, "invalid_field", str(exc), exc.field) from None
    except templating.TemplateRenderError as exc:
        raise BroadcastError(422, "render_error", exc.detail) from None
    return {"broadcast_id": broadcast_id, "test": True, "sent": [s.as_dict() for s in sent]}


def _caller() -> str:
    identity = (bp.current_request.context or {}).get("identity") or {}
    return str(identity.get("userArn") or "local-admin")


@bp.route("/admin/broadcasts", methods=["POST"], authorizer=iam)
@admin_only
def create_broadcast() -> Response:
    body, refused = _body()
    return refused or _call(lambda: _service().create(body, _caller()), 201)


@bp.route("/admin/broadcasts", methods=["GET"], authorizer=iam)
@admin_only
def list_broadcasts() -> Response:
    return _call(lambda: {"broadcasts": _service().all()})


@bp.route("/admin/broadcasts/{broadcast_id}", methods=["GET"], authorizer=iam)
@admin_only
def get_broadcast(broadcast_id: str) -> Response:
    return _call(lambda: _with_results(_service().get(broadcast_id)))


@bp.route("/admin/broadcasts/{broadcast_id}", methods=["PUT"], authorizer=iam)
@admin_only
def update_broadcast(broadcast_id: str) -> Response:
    body, refused = _body()
    return refused or _call(lambda: _service().update(broadcast_id, body, _caller()))


@bp.route("/admin/broadcasts/{broadcast_id}/schedule", methods=["POST"], authorizer=iam)
@admin_only
def schedule_broadcast(broadcast_id: str) -> Response:
    body, refused = _body()
    return refused or _call(lambda: _service().schedule(broadcast_id, body))


@bp.route("/admin/broadcasts/{broadcast_id}/{action}", methods=["POST"], authorizer=iam)
@admin_only
def change_broadcast(broadcast_id: str, action: str) -> Response:
    if action == "test":
        body, refused = _body()
        return refused or _call(lambda: _test_send(broadcast_id, body))
    if action not in ("pause", "resume", "cancel"):
        body = {"success": False, "error": "not_found", "message": f"no action {action!r}", "field": None}
        return json_response(404, body)
    return _call(lambda: getattr(_service(), action)(broadcast_id))
