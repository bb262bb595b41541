"""Local-only routes: the outbox of the embedded SES/SNS and clock controls. 404 unless ONE2ONE_LOCAL_TOOLS=1.

They answer only with the local admin token, as a bearer header or (so an outbox page opens in a browser) as
`?token=`. The clock routes read their JSON body whatever its content type, so `curl -d '{"days": 1}'` (which sends a
form type) works as printed, and they name any key they do not know instead of ignoring it.
"""

from __future__ import annotations

import json
import math
import os
from datetime import timedelta
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import json_response

bp = Blueprint(__name__)
# curl -d sends application/x-www-form-urlencoded; a browser form or fetch may send text/plain.
BODY_TYPES = ["application/json", "application/x-www-form-urlencoded", "text/plain"]
ADVANCE_KEYS = ("days", "hours", "minutes", "seconds")
UNIT_SECONDS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
MAX_ADVANCE_DAYS = 3650


def _enabled() -> bool:
    # Read on every request (not cached settings): only the local stack sets it, and a deployed stage never does.
    return os.environ.get("ONE2ONE_LOCAL_TOOLS") == "1"


def _not_found() -> Response:
    return json_response(404, {"success": False, "error": "not_found", "message": "no such route"})


def _refused() -> Response | None:
    """404 when the tools are off; 401 without the local admin token (header or `?token=`); None when allowed."""
    from chalicelib.api.admin import local_token_error

    if not _enabled():
        return _not_found()
    return local_token_error(allow_query=True)


def _outbox() -> Any:
    from chalicelib.bootstrap import get_local_outbox

    return get_local_outbox()


@bp.route("/local/outbox", methods=["GET"])
def outbox() -> Response:
    from chalicelib.delivery.exceptions import OutboxUnavailable

    if (refused := _refused()) is not None:
        return refused
    try:
        messages = _outbox().messages()
    except OutboxUnavailable as exc:
        return json_response(503, {"success": False, "error": "unavailable", "message": str(exc)})
    return json_response(200, {"messages": messages, "count": len(messages)})


@bp.route("/local/outbox/{name}", methods=["GET"])
def outbox_html(name: str) -> Response:
    """`/local/outbox/{id}.html`: the email's HTML body as a page (open it in a browser)."""
    from chalicelib.delivery.exceptions import OutboxUnavailable

    if (refused := _refused()) is not None:
        return refused
    if not name.endswith(".html"):
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


def _body(allowed: tuple[str, ...]) -> dict[str, float]:
    """The JSON object of the request (any content type), its values finite numbers, its keys among `allowed`."""
    raw = bp.current_request.raw_body or b"{}"
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValueError('body must be a JSON object, e.g. {"days": 1}') from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; expected {', '.join(allowed)}")
    values: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{key} must be a finite number")
        values[key] = float(value)
    return values


@bp.route("/local/clock/advance", methods=["POST"], content_types=BODY_TYPES)
def clock_advance() -> Response:
    """`{"seconds": N}` (also `minutes`, `hours`, `days`): move the clock forward; the next pump round sees it."""
    if (refused := _refused()) is not None:
        return refused
    try:
        body = _body(ADVANCE_KEYS)
        if not body:
            raise ValueError(f"say how far: one or more of {', '.join(ADVANCE_KEYS)}")
        seconds = sum(body[key] * UNIT_SECONDS[key] for key in body)
        if abs(seconds) > MAX_ADVANCE_DAYS * 86400:
            raise ValueError(f"days, hours, minutes and seconds add up to more than {MAX_ADVANCE_DAYS} days")
        delta = timedelta(seconds=seconds)
    except (ValueError, TypeError) as exc:
        return json_response(400, {"success": False, "error": "invalid_body", "message": str(exc)})
    if delta < timedelta(0):
        return json_response(400, {"success": False, "error": "invalid_body", "message": "time only moves forward"})
    clock = _fake_clock()
    clock.advance(delta)
    return json_response(200, {"now": clock.now().isoformat().replace("+00:00", "Z")})


@bp.route("/local/clock/speed", methods=["POST"], content_types=BODY_TYPES)
def clock_speed() -> Response:
    """`{"speed": F}`: the clock runs F times as fast as real time (60 = a minute per second; 0 freezes it)."""
    if (refused := _refused()) is not None:
        return refused
    try:
        body = _body(("speed",))
        if "speed" not in body:
            raise ValueError("speed is required")
        speed = body["speed"]
        if not 0 <= speed <= 100_000:
            raise ValueError("speed must be between 0 and 100000")
    except (ValueError, TypeError) as exc:
        return json_response(400, {"success": False, "error": "invalid_body", "message": str(exc)})
    clock = _fake_clock()
    clock.set_speed(speed)
    return json_response(200, {"now": clock.now().isoformat().replace("+00:00", "Z"), "speed": speed})
