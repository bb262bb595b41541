"""Local-only routes: the outbox of the embedded SES/SNS and clock controls. 404 unless ONE2ONE_LOCAL_TOOLS=1."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import json_response

bp = Blueprint(__name__)


def _enabled() -> bool:
    # Read on every request (not cached settings): only the local stack sets it, and a deployed stage never does.
    return os.environ.get("ONE2ONE_LOCAL_TOOLS") == "1"


def _not_found() -> Response:
    return json_response(404, {"success": False, "error": "not_found", "message": "no such route"})


def _outbox() -> Any:
    from chalicelib.delivery.adapters.moto_outbox import MotoOutbox

    return MotoOutbox(os.environ.get("ONE2ONE_MOTO_URL") or os.environ.get("AWS_ENDPOINT_URL"))


@bp.route("/local/outbox", methods=["GET"])
def outbox() -> Response:
    from chalicelib.delivery.adapters.moto_outbox import OutboxUnavailable

    if not _enabled():
        return _not_found()
    try:
        messages = _outbox().messages()
    except OutboxUnavailable as exc:
        return json_response(503, {"success": False, "error": "unavailable", "message": str(exc)})
    return json_response(200, {"messages": messages, "count": len(messages)})


@bp.route("/local/outbox/{name}", methods=["GET"])
def outbox_html(name: str) -> Response:
    """`/local/outbox/{id}.html`: the email's HTML body as a page (open it in a browser)."""
    from chalicelib.delivery.adapters.moto_outbox import OutboxUnavailable

    if not _enabled() or not name.endswith(".html"):
        return _not_found()
    message_id = name.removesuffix(".html")
    try:
        found = next((m for m in _outbox().messages() if m["id"] == message_id and m["kind"] == "email"), None)
    except OutboxUnavailable as exc:
        return json_response(503, {"success": False, "error": "unavailable", "message": str(exc)})
    if found is None:
        return _not_found()
    body = found.get("html") or f"<pre>{found.get('text') or ''}</pre>"
    return Response(body=body, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


def _fake_clock() -> Any:
    from chalicelib import bootstrap
    from chalicelib.shared.clock import FakeClock, get_clock, set_clock

    clock = get_clock()
    if not isinstance(clock, FakeClock):
        clock = FakeClock()  # real time until moved; services built with the old clock are rebuilt
        set_clock(clock)
        bootstrap.reset()
    return clock


def _body() -> dict[str, Any]:
    raw = bp.current_request.raw_body or b"{}"
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


@bp.route("/local/clock/advance", methods=["POST"])
def clock_advance() -> Response:
    """`{"seconds": N}` (also `minutes`, `hours`, `days`): move the clock forward; the next pump round sees it."""
    if not _enabled():
        return _not_found()
    try:
        body = _body()
        delta = timedelta(**{k: float(body.get(k, 0)) for k in ("days", "hours", "minutes", "seconds")})
    except (ValueError, TypeError) as exc:
        return json_response(400, {"success": False, "error": "invalid_body", "message": str(exc)})
    if delta < timedelta(0):
        return json_response(400, {"success": False, "error": "invalid_body", "message": "time only moves forward"})
    clock = _fake_clock()
    clock.advance(delta)
    return json_response(200, {"now": clock.now().isoformat().replace("+00:00", "Z")})


@bp.route("/local/clock/speed", methods=["POST"])
def clock_speed() -> Response:
    """`{"speed": F}`: the clock runs F times as fast as real time (60 = a minute per second; 0 freezes it)."""
    if not _enabled():
        return _not_found()
    try:
        speed = float(_body().get("speed", 1))
        if not 0 <= speed <= 100_000:
            raise ValueError("speed must be between 0 and 100000")
    except (ValueError, TypeError) as exc:
        return json_response(400, {"success": False, "error": "invalid_body", "message": str(exc)})
    clock = _fake_clock()
    clock.set_speed(speed)
    return json_response(200, {"now": clock.now().isoformat().replace("+00:00", "Z"), "speed": speed})
