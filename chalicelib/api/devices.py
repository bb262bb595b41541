"""Push device registration for apps that do not send `context.device.token` with their events (Pinpoint's
`UpdateEndpoint` replaced): `POST /v1/devices` and `POST /v1/devices/unregister`, authorised by the source's write key.

Both become ordinary tracked events (`Device Registered` / `Device Unregistered` with the device in `context`), so a
registration is stored, replayed, merged and erased like every other fact about the person (profiles/devices.py).
A registration with `enabled: true` (the person has just granted notification permission) also lifts the retirement
of that token, if SNS had disabled it: the only way a retired token is used again.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import BodyError, aws_failures_as_503, decoded_body, json_response, request_meta
from chalicelib.api.tracking import CONTENT_TYPES, STATUS_BY_OUTCOME

bp = Blueprint(__name__)

PASSED_THROUGH = ("userId", "anonymousId", "messageId", "timestamp", "writeKey")


def _error(field: str, message: str) -> Response:
    return json_response(400, {"success": False, "error": "invalid_field", "message": message, "field": field})


def device_message(body: Any, event: str) -> tuple[dict[str, Any] | None, Response | None]:
    """The tracked message a registration stands for, or the 400 naming the field that is wrong."""
    from chalicelib.tracking.devices import MAX_APP_ID, DeviceError, normalize_platform, validate_token

    if not isinstance(body, dict):
        return None, _error("", "the body must be a JSON object")
    try:
        platform = normalize_platform(body.get("platform"), "platform")
        token = validate_token(platform, body.get("token"), "token")
    except DeviceError as exc:
        return None, _error(exc.field, str(exc))
    app = body.get("app")
    if app is not None and (not isinstance(app, str) or not app.strip() or len(app) > MAX_APP_ID):
        return None, _error("app", f"app must be the app's bundle id or package name (at most {MAX_APP_ID} chars)")
    enabled = body.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        return None, _error("enabled", "enabled must be true or false (the app's notification permission)")
    message: dict[str, Any] = {k: body[k] for k in PASSED_THROUGH if k in body}
    message.update(type="track", event=event)
    message["context"] = {"device": {"token": token, "type": platform}}
    if app:
        message["context"]["app"] = {"namespace": app.strip()}
    if enabled is not None:
        message["properties"] = {"enabled": enabled}
    return message, None


def _register(event: str) -> Response:
    from chalicelib.bootstrap import get_ingest_service

    request = bp.current_request
    meta = request_meta(request)
    try:
        raw = decoded_body(request)
        body = json.loads(raw or "null")
    except BodyError as error:
        return error.response()
    except ValueError:
        return _error("", "the body is not valid JSON")
    message, problem = device_message(body, event)
    if problem is not None or message is None:
        return problem or _error("", "unreadable registration")
    result = get_ingest_service().receive("track", json.dumps(message), meta)
    status = STATUS_BY_OUTCOME[result.outcome]
    if status == 200 and event == "Device Registered" and message.get("properties", {}).get("enabled") is True:
        from chalicelib.bootstrap import get_push_tokens

        get_push_tokens().reinstate(message["context"]["device"]["token"])
    return json_response(status, result.reply)


@bp.route("/v1/devices", methods=["POST"], content_types=CONTENT_TYPES)
@aws_failures_as_503
def register_device() -> Response:
    return _register("Device Registered")


@bp.route("/v1/devices/unregister", methods=["POST"], content_types=CONTENT_TYPES)
@aws_failures_as_503
def unregister_device() -> Response:
    return _register("Device Unregistered")
