"""SMS consent by confirmation code: `POST /v1/subscribe/sms` texts a code, `POST /v1/subscribe/sms/confirm` checks it.

The SMS counterpart of double opt-in (`/v1/subscribe` in links.py): a browser's own `SMS Subscribed` is never applied
(tracking/trust.py), so from a write key the only way to SMS consent is to show the code the number received.
"""

from __future__ import annotations

import logging
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import aws_failures_as_503, cors_headers, json_response, preflight_response, request_meta

bp = Blueprint(__name__)
log = logging.getLogger("one2one")

BODY_TYPES = ["application/json", "text/plain"]  # text/plain: a form's fetch without a CORS preflight
MAX_BODY = 32 * 1024


def _service() -> Any:
    from chalicelib.bootstrap import get_sms_consent_service

    return get_sms_consent_service()


def _authorised() -> tuple[dict[str, Any], Any, dict[str, str]] | Response:
    """The JSON body, the source of its write key and the CORS headers; or the 4xx that refuses the request."""
    from chalicelib.bootstrap import get_ingest_service
    from chalicelib.tracking.ingest import write_key_from_header
    from chalicelib.tracking.validation import MessageError, parse_json_body

    request = bp.current_request
    meta = request_meta(request)
    try:
        body = parse_json_body(request.raw_body, MAX_BODY)
    except MessageError as exc:
        return json_response(400, {"success": False, **exc.to_dict()})
    if not isinstance(body, dict):
        return json_response(400, {"success": False, "error": "invalid_body", "message": "expected a JSON object"})
    key = write_key_from_header(meta.headers.get("authorization")) or body.get("writeKey")
    source, auth_error = get_ingest_service().authenticate(key, meta.source_ip)
    if source is None:
        return json_response(401, {"success": False, **auth_error.to_dict()})
    if not source.origin_allowed(meta.origin):
        return json_response(403, {"success": False, "error": "origin_not_allowed", "message": "origin not allowed"})
    return body, source, cors_headers(meta.origin)


def _refused(exc: Any, headers: dict[str, str]) -> Response:
    return json_response(400, {"success": False, **exc.to_dict()}, headers)


@bp.route("/v1/subscribe/sms", methods=["POST"], content_types=BODY_TYPES)
@aws_failures_as_503
def request_code() -> Response:
    """`{phone, userId | anonymousId, source}` with the write key: a 6-digit code is texted to the number."""
    from chalicelib.bootstrap import get_ingest_service
    from chalicelib.delivery.ports import ProviderOutcomeUnknown, ProviderRejected
    from chalicelib.engagement.sms_codes import SmsCodeError

    checked = _authorised()
    if isinstance(checked, Response):
        return checked
    body, source, headers = checked
    service = _service()
    try:
        phone = service.destination(body.get("phone"))
    except SmsCodeError as exc:
        return _refused(exc, headers)
    ids = {k: body[k] for k in ("userId", "anonymousId") if isinstance(body.get(k), str) and body[k]}
    if not ids:
        message = "userId or anonymousId is required"
        return json_response(
            400, {"success": False, "error": "missing_id", "message": message, "field": "userId"}, headers
        )
    label = str(body.get("source") or source.source_id)[:100]
    # As for email: the number joins the profile like any identify (a claim from a browser), the request is an event.
    messages = [
        {"type": "identify", **ids, "traits": {"phone": phone}},
        {"type": "track", **ids, "event": "SMS Subscription Requested", "properties": {"source": label}},
    ]
    stored, rejected = get_ingest_service().ingest(source, messages, None, request_meta(bp.current_request), batch=True)
    if rejected or not stored:
        return json_response(400, {"success": False, "error": "invalid_message", "rejected": rejected}, headers)
    try:
        service.request(stored[0].profile_id, phone, label, source.source_id)
    except ProviderRejected as exc:
        if exc.retryable:
            retry = {**headers, "Retry-After": "5"}
            return json_response(503, {"success": False, "error": "unavailable", "message": "retry"}, retry)
        log.info("SMS code refused by the provider: %s", exc.code)
        message = "the code could not be texted to this number"
        return json_response(
            400, {"success": False, "error": "sms_not_sent", "message": message, "field": "phone"}, headers
        )
    except ProviderOutcomeUnknown:
        log.warning("SMS code may or may not have been sent (provider timeout)")  # a new request sends another
    # Past a rate limit nothing is sent and the answer is the same: the limit reveals nothing about the number.
    return json_response(200, {"success": True, "status": "code_sent"}, headers)


@bp.route("/v1/subscribe/sms/confirm", methods=["POST"], content_types=BODY_TYPES)
@aws_failures_as_503
def confirm_code() -> Response:
    """`{phone, code}` with the same write key: the right code records `SMS Subscribed`; 5 tries per code in all."""
    from chalicelib.engagement.sms_codes import SmsCodeError, clean_code

    checked = _authorised()
    if isinstance(checked, Response):
        return checked
    body, source, headers = checked
    service = _service()
    try:
        phone = service.destination(body.get("phone"))
        code = clean_code(body.get("code"))
    except SmsCodeError as exc:
        return _refused(exc, headers)
    result = service.confirm(phone, code, source.source_id)
    if result.outcome == "wrong_code":
        return json_response(
            400,
            {
                "success": False,
                "error": "wrong_code",
                "message": "this is not the code we sent" + ("" if result.attempts_left else "; ask for a new one"),
                "field": "code",
                "attempts_left": result.attempts_left,
            },
            headers,
        )
    if result.outcome == "no_code":
        message = "no valid code for this number (expired, used up, or never sent): ask for a new one"
        return json_response(
            400, {"success": False, "error": "code_expired", "message": message, "field": "code"}, headers
        )
    return json_response(200, {"success": True, "status": "subscribed"}, headers)


@bp.route("/v1/subscribe/sms", methods=["OPTIONS"])
def request_code_preflight() -> Response:
    return _preflight()


@bp.route("/v1/subscribe/sms/confirm", methods=["OPTIONS"])
def confirm_code_preflight() -> Response:
    return _preflight()


def _preflight() -> Response:
    from chalicelib.bootstrap import get_ingest_service

    meta = request_meta(bp.current_request)
    return preflight_response(meta, get_ingest_service().origin_may_send(meta.origin))
