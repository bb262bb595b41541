"""Links in our mail: open pixel `/t/o/{token}.gif`, click redirect `/t/c/{token}`, unsubscribe `/u/{token}` (RFC 8058
one-click POST and a confirmation page), the preference page `/preferences/{token}`, and double opt-in
(`POST /v1/subscribe`, `/confirm/{token}`).

Tokens are verified before anything else; a tampered, truncated, unknown or retired token gets the GIF (opens, so a
mail client never shows a broken image) or a 404 (everything else), never a redirect. GET never changes state:
scanners follow every link in a message, so only a POST unsubscribes.
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import parse_qs

from chalice import Blueprint, Response

from chalicelib.api.http import aws_failures_as_503, cors_headers, json_response, preflight_response, request_meta
from chalicelib.api.pixel import GIF, GIF_HEADERS

bp = Blueprint(__name__)
log = logging.getLogger("one2one")

FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]
HTML_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
}
ONE_CLICK = "One-Click"


def _service() -> Any:
    from chalicelib.bootstrap import get_engagement_service

    return get_engagement_service()


def _not_found() -> Response:
    return json_response(404, {"success": False, "error": "not_found", "message": "unknown or expired link"})


def _page(status: int, title: str, body: str) -> Response:
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">'
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(body=document, status_code=status, headers=dict(HTML_HEADERS))


def _expired_link() -> Response:
    """A click link past its lifetime: a page that says so and leads to the shop, never a redirect to the old URL."""
    from chalicelib.shared.settings import get_settings

    home = html.escape(get_settings().public_base_url or "/", quote=True)
    return _page(
        410, "This link has expired", f'<p>This link has expired.</p><p><a href="{home}">Go to the shop</a></p>'
    )


def _form() -> dict[str, list[str]]:
    raw = bp.current_request.raw_body or b""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return parse_qs(text, keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return {}


# -- opens and clicks -------------------------------------------------------------------------------------------------


@bp.route("/t/o/{token}", methods=["GET"])
def open_pixel(token: str) -> Response:
    try:
        meta = request_meta(bp.current_request)
        _service().record_open(token.removesuffix(".gif"), meta.headers.get("user-agent"), meta.source_ip)
    except Exception:  # noqa: BLE001 - the image must always load; the failure is logged
        log.exception("open could not be recorded")
    return Response(body=GIF, status_code=200, headers=dict(GIF_HEADERS))


@bp.route("/t/c/{token}", methods=["GET", "HEAD"])
def click(token: str) -> Response:
    service = _service()
    payload = service.click_target(token)
    if payload is None and service.expired(token, "click"):
        return _expired_link()
    if payload is None or not (payload.url or "").startswith(("https://", "http://")):
        return _not_found()  # never redirect to anything we did not sign (no open redirect)
    try:
        request = bp.current_request
        meta = request_meta(request)
        service.record_click(payload, meta.headers.get("user-agent"), meta.source_ip, request.method)
    except Exception:  # noqa: BLE001 - the person must arrive even when recording fails
        log.exception("click could not be recorded")
    return Response(body="", status_code=302, headers={"Location": payload.url, "Cache-Control": "no-store"})


# -- unsubscribe ------------------------------------------------------------------------------------------------------


@bp.route("/u/{token}", methods=["GET"])
def unsubscribe_page(token: str) -> Response:
    if _service().unsubscribe_payload(token) is None:
        return _not_found()
    form = (
        "<p>Stop marketing email from us? Transactional messages (orders, receipts) still arrive.</p>"
        '<form method="post">'
        f'<input type="hidden" name="List-Unsubscribe" value="{ONE_CLICK}">'
        '<button type="submit">Unsubscribe</button></form>'
        f'<p><a href="../preferences/{html.escape(token, quote=True)}">Choose what to receive instead</a></p>'
    )
    return _page(200, "Unsubscribe", form)


@bp.route("/u/{token}", methods=["POST"], content_types=FORM_TYPES)
def unsubscribe(token: str) -> Response:
    service = _service()
    payload = service.unsubscribe_payload(token)
    if payload is None:
        return _not_found()
    if _form().get("List-Unsubscribe") != [ONE_CLICK]:
        return json_response(
            400, {"success": False, "error": "invalid_body", "message": "expected List-Unsubscribe=One-Click"}
        )
    service.unsubscribe(payload, "one_click")
    return _page(200, "You are unsubscribed", "<p>You will not receive marketing email from us any more.</p>")


# -- preferences ------------------------------------------------------------------------------------------------------


def _topics() -> list[str]:
    from chalicelib.bootstrap import get_scenarios

    return sorted({s.topic for s in get_scenarios() if s.topic})


@bp.route("/preferences/{token}", methods=["GET"])
def preferences_page(token: str) -> Response:
    from chalicelib.bootstrap import get_engagement_store

    payload = _service().unsubscribe_payload(token)
    if payload is None:
        return _not_found()
    current = get_engagement_store().preferences(payload.profile_id)

    def box(name: str, label: str, checked: bool) -> str:
        state = " checked" if checked else ""
        return f'<label><input type="checkbox" name="{name}" value="on"{state}> {html.escape(label)}</label><br>'

    rows = [box("channel:email", "Marketing email", current.get("email", {}).get("status") != "opted_out")]
    rows += [
        box(f"topic:{t}", t.replace("_", " ").capitalize(), current.get(f"email#{t}", {}).get("status") != "opted_out")
        for t in _topics()
    ]
    body = f'<form method="post"><input type="hidden" name="form" value="1">{"".join(rows)}<button>Save</button></form>'
    return _page(200, "Email preferences", body)


@bp.route("/preferences/{token}", methods=["POST"], content_types=FORM_TYPES)
def save_preferences(token: str) -> Response:
    service = _service()
    payload = service.unsubscribe_payload(token)
    if payload is None:
        return _not_found()
    form = _form()
    if form.get("form") != ["1"]:
        return json_response(400, {"success": False, "error": "invalid_body", "message": "expected the form"})
    channels = {"email": form.get("channel:email") == ["on"]}
    topics = {t: form.get(f"topic:{t}") == ["on"] for t in _topics()}
    service.set_preferences(payload, channels, topics)
    return _page(200, "Preferences saved", "<p>Your choices are saved and apply from now on.</p>")


# -- double opt-in ----------------------------------------------------------------------------------------------------

SUBSCRIBE_TYPES = ["application/json", "text/plain"]


@bp.route("/v1/subscribe", methods=["POST"], content_types=SUBSCRIBE_TYPES)
@aws_failures_as_503
def subscribe() -> Response:
    """`{email, userId | anonymousId, source}` with the write key: the person gets a confirmation mail; they are
    subscribed only when they follow its link (double opt-in, consent with provenance)."""
    from chalicelib.bootstrap import get_ingest_service
    from chalicelib.tracking.identity import clean_email
    from chalicelib.tracking.ingest import write_key_from_header
    from chalicelib.tracking.validation import MessageError, parse_json_body

    request = bp.current_request
    meta = request_meta(request)
    ingest = get_ingest_service()
    try:
        body = parse_json_body(request.raw_body, 32 * 1024)
    except MessageError as exc:
        return json_response(400, {"success": False, **exc.to_dict()})
    body_key = body.get("writeKey") if isinstance(body, dict) else None
    source, auth_error = ingest.authenticate(write_key_from_header(meta.headers.get("authorization")) or body_key)
    if source is None:
        return json_response(401, {"success": False, **auth_error.to_dict()})
    if not source.origin_allowed(meta.origin):
        return json_response(403, {"success": False, "error": "origin_not_allowed", "message": "origin not allowed"})
    headers = cors_headers(meta.origin)
    address = clean_email(body.get("email") if isinstance(body, dict) else None)
    if address is None or " " in address:
        return json_response(400, {"success": False, "error": "invalid_field", "field": "email"}, headers)
    ids = {k: body[k] for k in ("userId", "anonymousId") if isinstance(body.get(k), str) and body[k]}
    if not ids:
        return json_response(400, {"success": False, "error": "missing_id", "field": "userId"}, headers)
    label = str(body.get("source") or source.source_id)[:100]
    # The address joins the profile like any identify; the request itself is an event (its provenance).
    messages = [
        {"type": "identify", **ids, "traits": {"email": address}},
        {"type": "track", **ids, "event": "Email Subscription Requested", "properties": {"source": label}},
    ]
    stored, rejected = ingest.ingest(source, messages, None, meta, batch=True)
    if rejected or not stored:
        return json_response(400, {"success": False, "error": "invalid_message", "rejected": rejected}, headers)
    _service().request_subscription(stored[0].profile_id, address, label, source.source_id)
    return json_response(200, {"success": True, "status": "confirmation_sent"}, headers)


@bp.route("/v1/subscribe", methods=["OPTIONS"])
def subscribe_preflight() -> Response:
    from chalicelib.bootstrap import get_ingest_service

    meta = request_meta(bp.current_request)
    return preflight_response(meta, get_ingest_service().origin_may_send(meta.origin))


def _confirm_form() -> str:
    return '<form method="post"><button type="submit">Confirm my subscription</button></form>'


@bp.route("/confirm/{token}", methods=["GET"])
def confirm_page(token: str) -> Response:
    """A person following the link is subscribed at once; a link scanner (classified like a click) only gets the
    page with a button, so a security gateway fetching every link cannot subscribe anyone."""
    from chalicelib.engagement.classification import classify_click

    service = _service()
    payload = service.confirm_payload(token)
    if payload is None:
        return _not_found()
    meta = request_meta(bp.current_request)
    verdict = classify_click(
        meta.headers.get("user-agent"), meta.source_ip, None, service.clock.now(), "confirm", sent_at=None
    )
    if verdict.machine:
        return _page(200, "Confirm your subscription", _confirm_form())
    if not service.confirm(payload):
        return _not_found()
    return _page(200, "You are subscribed", "<p>Thank you: your subscription is confirmed.</p>")


@bp.route("/confirm/{token}", methods=["POST"], content_types=FORM_TYPES)
def confirm(token: str) -> Response:
    service = _service()
    payload = service.confirm_payload(token)
    if payload is None or not service.confirm(payload):
        return _not_found()
    return _page(200, "You are subscribed", "<p>Thank you: your subscription is confirmed.</p>")
