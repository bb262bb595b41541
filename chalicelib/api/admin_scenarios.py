"""Admin API for scenarios and messages: scenario list, template preview, a profile's messages and runs, retries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.admin import iam, local_token_error
from chalicelib.api.http import aws_failures_as_503, json_response

bp = Blueprint(__name__)


def _scenario_summary(scenario: Any) -> dict[str, Any]:
    return {
        "id": scenario.id,
        "name": scenario.name,
        "description": scenario.description,
        "enabled": scenario.enabled,
        "trigger": scenario.when.model_dump(mode="json", by_alias=True),
        "steps": len(scenario.steps),
        "channels": sorted({step.channel for _, step in scenario.send_steps()}),
        "holdout_percent": scenario.holdout_percent,
        "marketing": scenario.marketing,
        "topic": scenario.topic,
    }


@bp.route("/admin/scenarios", methods=["GET"], authorizer=iam)
def list_scenarios() -> Response:
    from chalicelib.bootstrap import get_scenarios

    if (denied := local_token_error()) is not None:
        return denied
    return json_response(200, {"scenarios": [_scenario_summary(s) for s in get_scenarios()]})


@bp.route("/admin/templates/{template_id}/preview", methods=["GET"], authorizer=iam)
@aws_failures_as_503
def preview_template(template_id: str) -> Response:
    """Render subject / html / text / sms of a template for one profile, as the delivery service would."""
    from chalicelib.bootstrap import get_delivery_service, get_profile_store, get_template_definitions, render_template
    from chalicelib.delivery import templating

    if (denied := local_token_error()) is not None:
        return denied
    if template_id not in get_template_definitions().get():
        return json_response(400, {"success": False, "error": "unknown_template", "message": template_id})
    params: Mapping[str, str] = bp.current_request.query_params or {}
    profile_id = params.get("profile_id")
    if not profile_id:
        return json_response(400, {"success": False, "error": "invalid_parameter", "message": "profile_id is required"})
    stored = get_profile_store().get(profile_id)
    if stored is None:
        return json_response(404, {"success": False, "error": "not_found", "message": f"profile {profile_id}"})
    profile = stored.document()
    service = get_delivery_service()
    links = service.links
    base = links.public_base_url
    extra: dict[str, Any] = {
        "currency": service.config.currency,
        "unsubscribe_url": f"{base}/u/preview",
        "preferences_url": f"{base}/preferences/preview",
        "coupon_code": links.coupon_code("preview", profile_id),
    }
    try:
        rendered = render_template(template_id, profile, extra)
    except templating.TemplateRenderError as exc:
        return json_response(422, {"success": False, "error": "render_error", "message": exc.detail})
    return json_response(
        200,
        {
            "template_id": template_id,
            "profile_id": profile_id,
            "subject": rendered.subject,
            "html": rendered.html,
            "text": rendered.text,
            "sms": rendered.sms,
        },
    )


@bp.route("/admin/profiles/{profile_id}/messages", methods=["GET"], authorizer=iam)
@aws_failures_as_503
def profile_messages(profile_id: str) -> Response:
    """Every message record (sent, skipped with its reason, deferred, holdout...) and every run of one profile."""
    from chalicelib.bootstrap import get_message_store, get_run_store

    if (denied := local_token_error()) is not None:
        return denied
    messages = get_message_store().for_profile(profile_id)
    runs = [json.loads(r.model_dump_json()) for r in get_run_store().for_profile(profile_id)]
    return json_response(200, {"profile_id": profile_id, "messages": messages, "runs": runs})


@bp.route("/admin/messages/unknown", methods=["GET"], authorizer=iam)
@aws_failures_as_503
def unknown_messages() -> Response:
    """Messages whose send outcome is unknown (the crash window): they wait for an operator's decision."""
    from chalicelib.bootstrap import get_delivery_service

    if (denied := local_token_error()) is not None:
        return denied
    return json_response(200, {"messages": get_delivery_service().sweep_stuck()})


@bp.route("/admin/messages/retry", methods=["POST"], authorizer=iam)
@aws_failures_as_503
def retry_message() -> Response:
    """`{"profile_id", "trigger_id", "step_index"}`: resend an `unknown` message after checking the provider."""
    from chalicelib.bootstrap import get_delivery_service

    if (denied := local_token_error()) is not None:
        return denied
    try:
        body = json.loads(bp.current_request.raw_body or b"{}")
        key = (str(body["profile_id"]), str(body["trigger_id"]), int(body["step_index"]))
    except (ValueError, KeyError, TypeError) as exc:
        return json_response(400, {"success": False, "error": "invalid_body", "message": str(exc)})
    if not get_delivery_service().retry_message(*key):
        return json_response(409, {"success": False, "error": "not_unknown", "message": "message is not unknown"})
    return json_response(202, {"success": True})
