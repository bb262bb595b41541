"""Console routes: each page asks the admin API's own views for its data (same validation, same answers as the
JSON routes, no second copy of any query) and renders it with Jinja2; actions are the JSON routes, called by
static/console.js with the session cookie.

Deployed, the console is part of the admin API and sits behind its IAM authorizer like every /admin route; on the
local stack a sign-in form turns the local admin token into a session cookie (api/session.py).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from chalice import Blueprint, CognitoUserPoolAuthorizer, IAMAuthorizer, Response

from chalicelib.api import session
from chalicelib.api.admin import iam
from chalicelib.api.console.render import STATIC, html, mail_frame

bp = Blueprint(__name__)
log = logging.getLogger("one2one")

# `make package` builds the admin API with ONE2ONE_CONSOLE_AUTHORIZER=cognito: the console's pages and its action
# routes are then guarded by API Gateway's Cognito authorizer (the ID token CloudFront copies from the console's
# cookie into Authorization, infra/console-viewer-request.js) and the sign-in pages are public. Chalice needs a
# literal ARN: local/package.py puts the template's user pool in place of this one. Locally (and in tests) every
# route stays on the IAM authorizer, which chalice local does not enforce; the admin guard checks the token.
CONSOLE_POOL_PLACEHOLDER = "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_ConsoleUserPool"
COGNITO = os.environ.get("ONE2ONE_CONSOLE_AUTHORIZER") == "cognito"
signed_in: IAMAuthorizer | CognitoUserPoolAuthorizer = (
    CognitoUserPoolAuthorizer("ConsoleUsers", provider_arns=[CONSOLE_POOL_PLACEHOLDER]) if COGNITO else iam
)
public: IAMAuthorizer | None = None if COGNITO else iam

BASE = "/admin/console"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "application/javascript; charset=utf-8"}
# Gmail's and Yahoo's bulk-sender rules (2024): keep the spam-complaint rate under 0.3%; we hold bounces to it too.
RATE_LIMIT = 0.003
FAILED_DAYS = 14
STATIC_NAME = re.compile(r"[a-z]+\.(css|js)")
MAX_QUERY = 320  # longer than any id or address we store: refused before it reaches a key lookup
MAX_REPORT_PAGES = 10  # 10 x 100 scenarios on the overview; more would make the page slow, not more useful


def _local_token() -> str | None:
    from chalicelib.shared.settings import get_settings

    return get_settings().local_admin_token


def _local_tools() -> bool:
    return os.environ.get("ONE2ONE_LOCAL_TOOLS") == "1"


EDGE_HEADER = "x-one2one-edge"  # set by the CloudFront function: the browser sees the console at the site's root
STATIC_ENV = "ONE2ONE_CONSOLE_STATIC_URL"  # deployed: "/console-static", the assets' S3 origin behind CloudFront


def _root() -> str:
    """The stage prefix the browser sees before /admin (`/api` behind API Gateway's default URL, "" locally and
    behind CloudFront)."""
    request = bp.current_request
    headers: dict[str, str] = dict(request.headers or {})
    if headers.get(EDGE_HEADER):
        return ""
    full = str((request.context or {}).get("path") or "")
    filled = request.path
    for name, value in (request.uri_params or {}).items():
        filled = filled.replace("{" + name + "}", quote(value, safe=""))
    return full[: -len(filled)] if full.endswith(filled) and full != filled else ""


def _here() -> str:
    """The path and query of this request, for the sign-in page to come back to."""
    request = bp.current_request
    path = request.path
    for name, value in (request.uri_params or {}).items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    query = dict(request.query_params or {})
    return path + (f"?{urlencode(query)}" if query else "")


def _context(**extra: Any) -> dict[str, Any]:
    who = caller()
    return {
        "root": _root(),
        "base": _root() + BASE,
        "static": os.environ.get(STATIC_ENV) or _root() + BASE + "/static",
        "api_prefix": _root() + BASE + "/api",  # the console's action routes (see the end of this module)
        "local_tools": _local_tools(),
        "signed_in": True,
        "role": who.role,
        "user": who.name,
        **extra,
    }


def _sign_in_page(status: int, next_path: str, error: str | None = None, expired: bool = False) -> Response:
    return html(
        status,
        "sign_in.html.j2",
        **_context(
            title="Sign in",
            signed_in=False,
            next_path=next_path,
            error=error,
            expired=expired,
            local=_local_token() is not None,
            roles=session.ROLES,
        ),
    )


def _denied() -> bool:
    """No session at all (a session whose role falls short of a write is not this: pages are reads)."""
    from chalicelib.api.admin import local_token_error

    if _local_token() is None:
        return False
    refused = local_token_error()
    return refused is not None and refused.status_code == 401


def caller() -> session.Caller:
    """Who is asking: the Cognito person API Gateway let in (deployed), the local session's role, or an admin (the
    local bearer token; an IAM signature)."""
    request = bp.current_request
    person = session.claims_caller(dict(request.context or {}))
    if person is not None:
        return person
    token = _local_token()
    cookie = session.from_headers(dict(request.headers or {}))
    if token is not None and cookie is not None and (role := session.session_role(cookie, token)):
        return session.Caller("local session", role)
    return session.Caller("local admin token" if token is not None else "IAM", "admin")


def _forbidden_page(needed: str) -> Response:
    who = caller()
    message = (
        f"Your role ({who.role or 'no role'}) cannot open this page: it needs {needed}. "
        + "Ask an admin to add you to the right group."
    )
    return html(403, "error.html.j2", **_context(title="Not allowed", message=message))


def page(view: Callable[..., Response] | None = None, *, role: str = "viewer") -> Any:
    """Every console page: the sign-in page (401, keeping the path) without a session; a 403 page below `role`; an
    HTML 503 on an outage."""
    if view is None:
        return lambda inner: page(inner, role=role)

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Response:
        from chalicelib.shared.faults import storage_failure_types

        if _denied():
            return _sign_in_page(401, _here())
        if session.rank(caller().role) < session.rank(role):
            return _forbidden_page(role)
        try:
            return view(*args, **kwargs)
        except storage_failure_types() as exc:
            log.warning("console: storage unavailable: %s", type(exc).__name__)
            return html(
                503,
                "error.html.j2",
                **_context(title="Storage unavailable", message="Storage did not answer. Reload the page in a moment."),
            )

    return guarded


def _api(view: Callable[..., Response], *args: Any) -> tuple[int, Any]:
    """Call one admin JSON route's view within this request: its status and decoded body."""
    response = view(*args)
    body = response.body
    try:
        return response.status_code, json.loads(body) if body else {}
    except ValueError:
        return response.status_code, {"message": str(body)}


def _not_found(message: str) -> Response:
    return html(404, "error.html.j2", **_context(title="Not found", message=message))


# --- sign-in ----------------------------------------------------------------------------------------------------------


def _safe_next(raw: str | None) -> str:
    """Only a path of the console itself: never another host (`//evil`), never a scheme."""
    # printable ASCII without spaces only: a CR/LF would split the Location header
    if raw and raw.startswith(BASE) and "//" not in raw and "\\" not in raw and all(33 <= ord(c) < 127 for c in raw):
        return raw
    return BASE


@bp.route(BASE + "/sign-in", methods=["GET"], authorizer=public)
def sign_in_form() -> Response:
    from chalicelib.api.console import cognito
    from chalicelib.shared.console_auth import hosted_ui

    query = dict(bp.current_request.query_params or {})
    next_path = _safe_next(query.get("next"))
    ui = hosted_ui() if _local_token() is None else None
    if ui is not None:  # deployed: Cognito's hosted UI, back to the callback below, then to `next`
        location, cookie = cognito.start(ui, _origin(), next_path)
        return Response(body="", status_code=302, headers={"Location": location, "Set-Cookie": cookie})
    return _sign_in_page(200, next_path, expired=query.get("expired") == "1")


def _origin() -> str:
    """This site as the browser sees it: CloudFront's (or the custom) host, which the edge function forwards."""
    headers: dict[str, str] = dict(bp.current_request.headers or {})
    return "https://" + (headers.get("x-forwarded-host") or headers.get("host") or "")


@bp.route(BASE + "/auth/callback", methods=["GET"], authorizer=public)
def sign_in_callback() -> Response:
    """Cognito's hosted UI sends the browser here with a code: traded for the ID token, kept in an HttpOnly cookie."""
    from chalicelib.api.console import cognito
    from chalicelib.shared.console_auth import hosted_ui

    ui = hosted_ui()
    if ui is None:
        return _not_found("This stack signs in with the local admin token: open the sign-in page.")
    query = dict(bp.current_request.query_params or {})
    headers: dict[str, str] = dict(bp.current_request.headers or {})
    cookies = {
        name.strip(): value for name, _, value in (p.partition("=") for p in headers.get("cookie", "").split(";"))
    }
    try:
        if query.get("error"):
            raise cognito.SignInError(f"the hosted UI answered {query['error'][:100]}")
        verifier, next_path = cognito.pending(cookies.get(cognito.PKCE_COOKIE), query.get("state"))
        id_cookie = cognito.finish(ui, _origin(), query.get("code", ""), verifier)
    except cognito.SignInError as exc:
        message = f"Signing in did not work: {exc}. Open the console again to sign in."
        return html(400, "error.html.j2", **_context(title="Sign in", signed_in=False, message=message))
    return Response(
        body="",
        status_code=303,
        headers={
            "Location": _root() + _safe_next(next_path),
            "Set-Cookie": [id_cookie, cognito.cleared(cognito.PKCE_COOKIE, cognito.CALLBACK)],
        },
    )


@bp.route(BASE + "/sign-in", methods=["POST"], authorizer=public, content_types=["application/x-www-form-urlencoded"])
def sign_in() -> Response:
    import hmac

    raw = bp.current_request.raw_body or b""
    decoded = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    form = {k: v[0] for k, v in parse_qs(decoded).items()}
    next_path = _safe_next(form.get("next"))
    token = _local_token()
    if token is None:
        return _sign_in_page(400, next_path, "There is no local admin token here: this API is signed in through IAM.")
    presented = form.get("token", "").strip()
    if not presented or not hmac.compare_digest(presented.encode(), token.encode()):
        return _sign_in_page(401, next_path, "That is not the admin token. make run prints it (admin API line).")
    role = form.get("role", "admin")
    if role not in session.ROLES:
        return _sign_in_page(400, next_path, f"Choose a role: {', '.join(session.ROLES)}.")
    headers: dict[str, str] = dict(bp.current_request.headers or {})
    cookie = session.set_cookie(session.issue(token, role=role), secure=headers.get("x-forwarded-proto") == "https")
    return Response(body="", status_code=303, headers={"Location": _root() + next_path, "Set-Cookie": cookie})


@bp.route(BASE + "/sign-out", methods=["POST"], authorizer=public, content_types=["application/x-www-form-urlencoded"])
def sign_out() -> Response:
    from urllib.parse import urlencode as encode

    from chalicelib.api.console import cognito
    from chalicelib.shared.console_auth import hosted_ui

    ui = hosted_ui() if _local_token() is None else None
    if ui is not None:  # forget the ID token here, and the hosted UI's own session there
        logout = ui.url("/logout?" + encode({"client_id": ui.client_id, "logout_uri": _origin() + BASE + "/sign-in"}))
        cookie = cognito.cleared(cognito.ID_COOKIE, "/admin")
        return Response(body="", status_code=303, headers={"Location": logout, "Set-Cookie": cookie})
    cleared = session.set_cookie("", secure=False, max_age=0)
    return Response(body="", status_code=303, headers={"Location": _root() + BASE + "/sign-in", "Set-Cookie": cleared})


@bp.route(BASE + "/static/{name}", methods=["GET"], authorizer=public)
def static(name: str) -> Response:
    """The console's stylesheet and script (public code, no data: the sign-in page needs them too)."""
    path = STATIC / name
    kind = STATIC_TYPES.get(path.suffix)
    if kind is None or not STATIC_NAME.fullmatch(name) or not path.is_file():
        return Response(body="not found", status_code=404, headers={"Content-Type": "text/plain"})
    return Response(
        body=path.read_text(encoding="utf-8"),
        status_code=200,
        headers={"Content-Type": kind, "Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
    )


# --- overview ---------------------------------------------------------------------------------------------------------


def _report_totals() -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """Per scenario its totals rows, and the counters summed per channel over every scenario."""
    from chalicelib.api.admin_reports import scenario_report
    from chalicelib.bootstrap import get_engagement_store

    store = get_engagement_store()
    scenarios: list[dict[str, Any]] = []
    by_channel: dict[str, dict[str, float]] = {}
    cursor: str | None = None
    for _ in range(MAX_REPORT_PAGES):
        ids, cursor = store.scenario_ids(100, cursor)
        for scenario_id in ids:
            document = scenario_report(scenario_id, store.rows(scenario_id, assignments=False))  # totals only
            scenarios.append({"scenario_id": scenario_id, "totals": document["totals"]})
            for row in document["totals"]:
                summed = by_channel.setdefault(row["channel"], {})
                for key, value in row["counters"].items():
                    summed[key] = summed.get(key, 0) + value
        if not cursor:
            break
    return scenarios, by_channel


def _failed_per_day(today: datetime) -> list[dict[str, Any]]:
    from chalicelib.bootstrap import get_failed_event_store

    store = get_failed_event_store()
    days = []
    for back in range(FAILED_DAYS - 1, -1, -1):
        day = (today - timedelta(days=back)).strftime("%Y-%m-%d")
        rows, more = store.list(day, 500)
        days.append({"label": day[5:], "day": day, "value": len(rows), "more": more is not None})
    return days


def _daily() -> dict[str, Any]:
    """The daily series through the admin route's own view (the last 30 days, or the page's `from` / `to`), with
    chart points: bar labels are `MM-DD`, rates are percentages."""
    from chalicelib.api import admin_reports

    status, answer = _api(admin_reports.daily_report)
    if status != 200:
        query = dict(bp.current_request.query_params or {})
        return {
            "days": [],
            "error": answer.get("message"),
            "points": {},
            "from": query.get("from"),
            "to": query.get("to"),
        }
    days = answer["days"]

    def points(value: Callable[[dict[str, Any]], float | None]) -> list[dict[str, Any]]:
        return [{"label": d["day"][5:], "value": value(d) or 0} for d in days]

    answer["points"] = {
        "events": points(lambda d: d["events"]),
        "active": points(lambda d: d["active_profiles"]),
        "sent": points(lambda d: d["email"]["sent"]),
        "delivered": points(lambda d: d["email"]["delivered"]),
        "bounce_rate": points(lambda d: None if d["bounce_rate"] is None else 100 * d["bounce_rate"]),
        "complaint_rate": points(lambda d: None if d["complaint_rate"] is None else 100 * d["complaint_rate"]),
    }
    return answer


@bp.route(BASE, methods=["GET"], authorizer=signed_in)
@page
def overview() -> Response:
    from chalicelib.api import admin_segments

    scenarios, by_channel = _report_totals()
    _, segments = _api(admin_segments.list_segments)
    kpis = ["sent", "delivered", "human_opens", "clicks", "conversions", "revenue"]
    totals = {k: sum(c.get(k, 0) for c in by_channel.values()) for k in kpis}
    daily = _daily()
    return html(
        400 if daily.get("error") else 200,  # a bad from / to of the page: said on the page, with the rest
        "overview.html.j2",
        **_context(
            title="Overview",
            totals=totals,
            by_channel=by_channel,
            scenarios=scenarios,
            segments=segments.get("items", []),
            segment_points=[{"label": s["id"], "value": s["size"]} for s in segments.get("items", [])],
            scenario_points=[
                {"label": s["scenario_id"], "value": sum(row["counters"]["sent"] for row in s["totals"])}
                for s in scenarios
            ],
            failed=_failed_per_day(datetime.now(UTC)),
            daily=daily,
        ),
    )


# --- profiles ---------------------------------------------------------------------------------------------------------


@bp.route(BASE + "/profiles", methods=["GET"], authorizer=signed_in)
@page
def profiles() -> Response:
    from chalicelib.api.admin import _admin_service
    from chalicelib.profiles.lookup import NotFound

    q = (dict(bp.current_request.query_params or {}).get("q") or "").strip()
    error = None
    if len(q) > MAX_QUERY:
        return html(400, "profiles.html.j2", **_context(title="Profiles", q=q[:MAX_QUERY], error="That is too long."))
    if q:
        service = _admin_service()
        if service.profiles.get(q) is not None:
            return _redirect(f"{BASE}/profiles/{quote(q, safe='')}")
        try:
            # an address is an email; anything else may be the shop's user id or the tracker's anonymous id
            found = service.resolve(None, None, q) if "@" in q else service.resolve(q, q, None)
            return _redirect(f"{BASE}/profiles/{quote(found, safe='')}")
        except ValueError:
            error = f"{q!r} is not a profile id, an email address, a user id or an anonymous id."
        except NotFound:
            error = f"No profile has the id, email, user id or anonymous id {q!r}. Check the spelling, or try another."
    return html(404 if error else 200, "profiles.html.j2", **_context(title="Profiles", q=q, error=error))


def _redirect(path: str) -> Response:
    return Response(body="", status_code=303, headers={"Location": _root() + path})


@bp.route(BASE + "/profiles/{profile_id}", methods=["GET"], authorizer=signed_in)
@page
def profile(profile_id: str) -> Response:
    from chalicelib.api import admin, admin_scenarios

    status, view = _api(admin.get_profile, profile_id)
    if status != 200:
        return html(
            status if status in (400, 404) else 502,
            "profiles.html.j2",
            **_context(title="Profiles", q=profile_id, error=view.get("message", "the profile could not be read")),
        )
    _, messages = _api(admin_scenarios.profile_messages, view["profile_id"])
    body = view["profile"]
    return html(
        200,
        "profile.html.j2",
        **_context(
            title=f"Profile {view['profile_id']}",
            view=view,
            traits=body.get("traits") or {},
            consent=body.get("consent") or {},
            predictions=body.get("predictions"),
            computed=body.get("computed") or {},
            messages=messages.get("messages", []),
            runs=messages.get("runs", []),
            other={
                k: v
                for k, v in body.items()
                if k not in {"traits", "consent", "predictions", "computed", "scores", "segments", "rfm"}
            },
        ),
    )


# --- segments ---------------------------------------------------------------------------------------------------------


@bp.route(BASE + "/segments", methods=["GET"], authorizer=signed_in)
@page
def segments() -> Response:
    from chalicelib.api import admin_backfills, admin_segments

    status, listed = _api(admin_segments.list_segments)
    _, backfills = _api(admin_backfills.list_backfills)
    return html(
        200,
        "segments.html.j2",
        **_context(
            title="Segments",
            segments=listed.get("items", []),
            error=None if status == 200 else listed.get("message"),
            backfills=backfills.get("items", []),
            example=json.dumps({"all": [{"field": "computed.cart_quantity", "op": "gt", "value": 0}]}, indent=2),
        ),
    )


@bp.route(BASE + "/segments/{segment_id}", methods=["GET"], authorizer=signed_in)
@page
def segment(segment_id: str) -> Response:
    from chalicelib.api import admin_backfills, admin_segments

    _, listed = _api(admin_segments.list_segments)
    found = next((s for s in listed.get("items", []) if s["id"] == segment_id), None)
    if found is None:
        return _not_found(f"There is no segment {segment_id!r}. Create it on the Segments page.")
    _, members = _api(admin_segments.segment_members, segment_id)
    _, backfills = _api(admin_backfills.list_backfills)
    return html(
        200,
        "segment.html.j2",
        **_context(
            title=f"Segment {segment_id}",
            segment=found,
            rule=json.dumps(found["rule"], indent=2),
            members=members.get("items", []),
            backfills=[b for b in backfills.get("items", []) if segment_id in b.get("segment_ids", [])],
        ),
    )


# --- scenarios --------------------------------------------------------------------------------------------------------


@bp.route(BASE + "/scenarios", methods=["GET"], authorizer=signed_in)
@page
def scenarios() -> Response:
    from chalicelib.api import admin_scenarios

    _, listed = _api(admin_scenarios.list_scenarios)
    return html(200, "scenarios.html.j2", **_context(title="Scenarios", scenarios=listed.get("scenarios", [])))


FUNNEL = ("sent", "delivered", "human_opens", "clicks", "conversions")


@bp.route(BASE + "/scenarios/{scenario_id}", methods=["GET"], authorizer=signed_in)
@page
def scenario(scenario_id: str) -> Response:
    from chalicelib.api import admin_reports
    from chalicelib.bootstrap import get_scenarios

    found = next((s for s in get_scenarios() if s.id == scenario_id), None)
    if found is None:
        return _not_found(f"There is no scenario {scenario_id!r}.")
    status, report = _api(admin_reports.get_report, scenario_id)
    steps = [step.model_dump(mode="json", by_alias=True, exclude_defaults=True) for step in found.steps]
    rows = report.get("rows", []) if status == 200 else []
    return html(
        200,
        "scenario.html.j2",
        **_context(
            title=f"Scenario {found.name}",
            scenario=found,
            trigger=found.when.model_dump(mode="json", by_alias=True),
            steps=steps,
            rows=rows,
            funnel=FUNNEL,
            report=report if status == 200 else None,
        ),
    )


# --- templates --------------------------------------------------------------------------------------------------------


@bp.route(BASE + "/templates", methods=["GET"], authorizer=signed_in)
@page
def templates() -> Response:
    from chalicelib.api import admin_scenarios
    from chalicelib.bootstrap import get_template_definitions

    query = dict(bp.current_request.query_params or {})
    ids = sorted(get_template_definitions().get())
    chosen, profile_id = query.get("template", ""), query.get("profile_id", "").strip()
    preview, error, status = None, None, 200
    if chosen or profile_id:
        if chosen not in ids:
            error, status = f"Choose a template from the list ({chosen!r} is not one).", 400
        elif not profile_id:
            error, status = "Give the id of a profile to preview the template for (see Profiles).", 400
        else:
            status, preview = _api(admin_scenarios.preview_template, chosen)
            if status != 200:
                error, preview = preview.get("message") or preview.get("error"), None
                error = f"The preview failed: {error}" + (" (no such profile)" if status == 404 else "")
    return html(
        status,
        "templates.html.j2",
        **_context(
            title="Templates",
            ids=ids,
            chosen=chosen,
            profile_id=profile_id,
            preview=preview,
            error=error,
            frame_query=urlencode({"profile_id": profile_id}),
        ),
    )


@bp.route(BASE + "/templates/{template_id}/frame", methods=["GET"], authorizer=signed_in)
@page
def template_frame(template_id: str) -> Response:
    """The rendered HTML body alone, for the preview's iframes (its own CSP: no script, sandboxed)."""
    from chalicelib.api import admin_scenarios

    status, preview = _api(admin_scenarios.preview_template, template_id)
    if status != 200:
        return _not_found(preview.get("message") or "no preview")
    return mail_frame(preview.get("html") or "<pre>(this template has no HTML body)</pre>")


# --- deliverability ---------------------------------------------------------------------------------------------------


@bp.route(BASE + "/deliverability", methods=["GET"], authorizer=signed_in)
@page
def deliverability() -> Response:
    from chalicelib.api import admin_scenarios
    from chalicelib.engagement.reports import Counters, rates

    _, by_channel = _report_totals()
    channels = []
    for channel, summed in sorted(by_channel.items()):
        counters = Counters(**{k: (float(v) if k == "revenue" else int(v)) for k, v in summed.items()})  # type: ignore[arg-type]
        r = rates(counters, channel)
        channels.append(
            {
                "channel": channel,
                "counters": summed,
                "bounce_rate": r.bounce_rate,
                "complaint_rate": r.complaint_rate,
                "bounce_over": r.bounce_rate is not None and r.bounce_rate >= RATE_LIMIT,
                "complaint_over": r.complaint_rate is not None and r.complaint_rate >= RATE_LIMIT,
            }
        )
    _, unknown = _api(admin_scenarios.unknown_messages)
    daily = _daily()
    return html(
        400 if daily.get("error") else 200,
        "deliverability.html.j2",
        **_context(
            title="Deliverability",
            channels=channels,
            limit=RATE_LIMIT,
            unknown=unknown.get("messages", []),
            daily=daily,
        ),
    )


# --- failed events ----------------------------------------------------------------------------------------------------


@bp.route(BASE + "/failed-events", methods=["GET"], authorizer=signed_in)
@page
def failed_events() -> Response:
    from chalicelib.api import admin

    status, listed = _api(admin.failed_events)
    day = dict(bp.current_request.query_params or {}).get("day") or datetime.now(UTC).strftime("%Y-%m-%d")
    return html(
        200 if status == 200 else 400,
        "failed_events.html.j2",
        **_context(
            title="Failed events",
            day=listed.get("day", day),
            items=listed.get("items", []),
            next_cursor=listed.get("next_cursor"),
            error=None if status == 200 else listed.get("message"),
        ),
    )


# --- outbox (local stack only) ----------------------------------------------------------------------------------------


def _outbox_messages() -> list[dict[str, Any]] | str:
    from chalicelib.bootstrap import get_local_outbox
    from chalicelib.delivery.exceptions import OutboxUnavailable

    try:
        return list(get_local_outbox().messages())
    except OutboxUnavailable as exc:
        return str(exc)


@bp.route(BASE + "/outbox", methods=["GET"], authorizer=signed_in)
@page
def outbox() -> Response:
    if not _local_tools():
        return _not_found("The outbox exists on the local stack only (make run): deployed, SES sends for real.")
    messages = _outbox_messages()
    error = messages if isinstance(messages, str) else None
    listed = [] if isinstance(messages, str) else list(reversed(messages))
    return html(200, "outbox.html.j2", **_context(title="Outbox", messages=listed, error=error))


@bp.route(BASE + "/outbox/{message_id}", methods=["GET"], authorizer=signed_in)
@page
def outbox_message(message_id: str) -> Response:
    if not _local_tools():
        return _not_found("The outbox exists on the local stack only (make run).")
    messages = _outbox_messages()
    found = None if isinstance(messages, str) else next((m for m in messages if m["id"] == message_id), None)
    if found is None:
        return _not_found(f"No message {message_id!r} in the outbox (it is emptied when the stack restarts).")
    return html(200, "outbox_message.html.j2", **_context(title=found.get("subject") or message_id, message=found))


@bp.route(BASE + "/outbox/{message_id}/frame", methods=["GET"], authorizer=signed_in)
@page
def outbox_frame(message_id: str) -> Response:
    if not _local_tools():
        return _not_found("The outbox exists on the local stack only (make run).")
    messages = _outbox_messages()
    found = None if isinstance(messages, str) else next((m for m in messages if m["id"] == message_id), None)
    if found is None or found.get("kind") != "email":
        return _not_found(f"No email {message_id!r} in the outbox.")
    return mail_frame(found.get("html") or "<pre>(no HTML part)</pre>")


# --- broadcasts -------------------------------------------------------------------------------------------------------

BROADCAST_STATES = ("draft", "scheduled", "sending", "paused", "sent", "empty", "cancelled")


def _template_channels() -> dict[str, list[str]]:
    """Template id -> the channels it has a body for (the broadcast form offers only what validates)."""
    from chalicelib.bootstrap import get_broadcast_service

    return {k: sorted(v) for k, v in sorted(get_broadcast_service().template_channels().items())}


@bp.route(BASE + "/broadcasts", methods=["GET"], authorizer=signed_in)
@page
def broadcasts() -> Response:
    from chalicelib.api import admin_broadcasts

    status, listed = _api(admin_broadcasts.list_broadcasts)
    items = sorted(listed.get("broadcasts", []), key=lambda b: str(b.get("at") or ""), reverse=True)
    return html(
        200,
        "broadcasts.html.j2",
        **_context(
            title="Broadcasts",
            broadcasts=items,
            error=None if status == 200 else listed.get("message"),
        ),
    )


@bp.route(BASE + "/broadcasts/new", methods=["GET"], authorizer=signed_in)
@page(role="marketer")
def new_broadcast() -> Response:
    from chalicelib.api import admin_segments

    _, segments = _api(admin_segments.list_segments)
    return html(
        200,
        "broadcast_new.html.j2",
        **_context(
            title="New broadcast",
            nav="Broadcasts",
            segments=[s["id"] for s in segments.get("items", [])],
            templates=_template_channels(),
            example=json.dumps({"all": [{"field": "traits.plan", "op": "eq", "value": "pro"}]}, indent=2),
        ),
    )


@bp.route(BASE + "/broadcasts/{broadcast_id}", methods=["GET"], authorizer=signed_in)
@page
def broadcast(broadcast_id: str) -> Response:
    from chalicelib.api import admin_broadcasts

    status, found = _api(admin_broadcasts.get_broadcast, broadcast_id)
    if status != 200:
        return _not_found(f"There is no broadcast {broadcast_id!r}. Create one on the Broadcasts page.")
    summary = found.get("summary") or {}
    funnel = [{"label": k, "value": summary.get(k, 0)} for k in ("sent", "delivered", "human_opens", "clicks")]
    skipped = sorted((summary.get("skipped") or {}).items(), key=lambda kv: -kv[1])
    return html(
        200,
        "broadcast.html.j2",
        **_context(
            title=f"Broadcast {(found.get('broadcast') or {}).get('name') or broadcast_id}",
            b=found,
            definition=found.get("broadcast") or {},
            summary=summary,
            funnel=funnel,
            skipped=skipped,
            results=found.get("results"),
            today=datetime.now(UTC).strftime("%Y-%m-%d"),
        ),
    )


# --- catalog ----------------------------------------------------------------------------------------------------------

CATALOG_PAGE = 100
RECENT_CHANGES = 30


@bp.route(BASE + "/catalog", methods=["GET"], authorizer=signed_in)
@page
def catalog() -> Response:
    """Products (stock, price, version), the latest price changes over them, and the catalog triggers (back in
    stock, price drop, low stock) with what each has sent: a trigger's runs are its scenario's report rows."""
    from chalicelib.api.admin_reports import scenario_report
    from chalicelib.bootstrap import get_catalog_store, get_engagement_store, get_scenarios
    from chalicelib.scenarios.catalog_triggers import catalog_scenarios

    cursor = dict(bp.current_request.query_params or {}).get("cursor") or None
    if cursor is not None and len(cursor) > MAX_QUERY:
        return html(400, "error.html.j2", **_context(title="Catalog", message="That page link is not valid."))
    try:
        products, next_cursor = get_catalog_store().page(CATALOG_PAGE, cursor)
    except ValueError:
        return html(400, "error.html.j2", **_context(title="Catalog", message="That page link is not valid."))
    views = [p.view() for p in products]
    changes = []
    for view in views:
        history = view.get("price_history") or []
        for before, after in zip(history, history[1:], strict=False):
            changes.append({"product_id": view["id"], "at": after["at"], "from": before["price"], **after})
    changes.sort(key=lambda c: str(c["at"]), reverse=True)
    engagement = get_engagement_store()
    triggers = []
    for scenario in catalog_scenarios(get_scenarios()):
        rows = engagement.rows(scenario.id, assignments=False)
        totals = scenario_report(scenario.id, rows)["totals"] if rows else []
        triggers.append(
            {
                "id": scenario.id,
                "name": scenario.name,
                "when": scenario.when.model_dump(mode="json", by_alias=True, exclude_none=True),
                "enabled": scenario.enabled,
                "sent": sum(r["counters"]["sent"] for r in totals),
                "conversions": sum(r["counters"]["conversions"] for r in totals),
            }
        )
    return html(
        200,
        "catalog.html.j2",
        **_context(
            title="Catalog",
            products=views,
            next_cursor=next_cursor,
            changes=changes[:RECENT_CHANGES],
            triggers=triggers,
        ),
    )


# --- imports ----------------------------------------------------------------------------------------------------------

IMPORT_KINDS = ("people", "orders", "events", "pinpoint_endpoints", "pinpoint_segment")


@bp.route(BASE + "/imports", methods=["GET"], authorizer=signed_in)
@page
def imports() -> Response:
    from chalicelib.api import admin_imports

    status, listed = _api(admin_imports.list_imports)
    return html(
        200,
        "imports.html.j2",
        **_context(
            title="Imports",
            items=listed.get("items", []),
            error=None if status == 200 else listed.get("message"),
            kinds=IMPORT_KINDS,
            formats=list(admin_imports.FORMATS),
        ),
    )


@bp.route(BASE + "/imports/{import_id}", methods=["GET"], authorizer=signed_in)
@page
def import_job(import_id: str) -> Response:
    from chalicelib.api import admin_imports

    status, job = _api(admin_imports.get_import, import_id)
    if status == 400:
        return html(400, "error.html.j2", **_context(title="Imports", message=job.get("message")))
    if status != 200:
        return _not_found(f"There is no import {import_id!r}. Start one on the Imports page.")
    return html(200, "import.html.j2", **_context(title=f"Import {job['import_id']}", job=job))


# --- the console's actions --------------------------------------------------------------------------------------------
# The forms of the pages post here (static/console.js): the same JSON views as /admin/..., called in-process, on
# routes the console's authorizer guards (deployed, /admin/... keeps IAM for scripts). The view's own admin guard
# checks the caller's role (api/session.py `required_role`, which reads /admin/console/api/x as /admin/x).
API = BASE + "/api"
UPLOADS = ["text/csv", "application/x-ndjson", "application/jsonl", "application/gzip", "application/octet-stream"]


@bp.route(API + "/definitions/{kind}/{definition_id}", methods=["PUT"], authorizer=signed_in)
def act_put_definition(kind: str, definition_id: str) -> Response:
    from chalicelib.api import admin_definitions

    return admin_definitions.put_definition(kind, definition_id)


@bp.route(API + "/failed-events/replay", methods=["POST"], authorizer=signed_in)
def act_replay() -> Response:
    from chalicelib.api import admin

    return admin.replay_failed_events()


@bp.route(API + "/messages/retry", methods=["POST"], authorizer=signed_in)
def act_retry() -> Response:
    from chalicelib.api import admin_scenarios

    return admin_scenarios.retry_message()


@bp.route(API + "/broadcasts", methods=["POST"], authorizer=signed_in)
def act_create_broadcast() -> Response:
    from chalicelib.api import admin_broadcasts

    return admin_broadcasts.create_broadcast()


@bp.route(API + "/broadcasts/{broadcast_id}/{action}", methods=["POST"], authorizer=signed_in)
def act_broadcast(broadcast_id: str, action: str) -> Response:
    from chalicelib.api import admin_broadcasts

    if action == "schedule":
        return admin_broadcasts.schedule_broadcast(broadcast_id)
    return admin_broadcasts.change_broadcast(broadcast_id, action)


@bp.route(API + "/imports", methods=["POST"], authorizer=signed_in, content_types=UPLOADS)
def act_import() -> Response:
    from chalicelib.api import admin_imports

    return admin_imports.start_import()


# --- predictions ------------------------------------------------------------------------------------------------------


@bp.route(BASE + "/predictions", methods=["GET"], authorizer=signed_in)
@page
def predictions() -> Response:
    """The models the fold evaluates: CLV (BG/NBD + Gamma-Gamma) with the last fit's parameters and date, the
    propensity models with their held-out metrics, and the fitting job's recent runs (fitted, or why not)."""
    from chalicelib.bootstrap import get_model_store, get_propensity_store

    clv = get_model_store().current()
    propensity = get_propensity_store().current()
    runs = [run.as_dict() for run in get_model_store().runs(20)]
    models = []
    if propensity is not None:
        found = propensity.as_dict()
        named = [("churn", found.get("churn")), ("purchase_30d", found.get("purchase_30d"))]
        named += [(f"response ({k})", v) for k, v in (found.get("response") or {}).items()]
        for name, model in named:
            if model:
                fitted = (found.get("fitted") or {}).get(name.split(" ")[0], found["fitted_at"])
                models.append({"name": name, "fitted": fitted, "metrics": model.get("metrics") or {}})
    return html(
        200,
        "predictions.html.j2",
        **_context(
            title="Predictions",
            clv=clv.as_dict() if clv is not None else None,
            propensity=propensity.as_dict() if propensity is not None else None,
            models=models,
            runs=runs,
        ),
    )
