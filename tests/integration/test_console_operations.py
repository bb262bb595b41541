"""The console's broadcasts, catalog and imports pages, its action routes, roles and kept-as-text values, through
Chalice's test client on moto: pages render from stored data, actions go through the same JSON views, a viewer is
refused (403, never a stack trace), and bad input is a 4xx that names the field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.scenario_support import (
    World,
    world_fixture,  # noqa: F401 - registers `world`
)

BASE = "/admin/console"
API = BASE + "/api"
HOSTILE = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
DATA = Path(__file__).resolve().parents[1] / "data" / "imports"
DRAFT = {
    "name": "Spring sale " + HOSTILE,
    "audience": {"segment": "cart_abandoners"},
    "channel": "email",
    "template": "dormant_we_miss_you",
}


def session(world: World, role: str = "admin") -> dict[str, str]:
    response = world.h.client.http.post(
        BASE + "/sign-in",
        body=f"token={ADMIN_TOKEN}&role={role}&next={BASE}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 303, response.body
    return {"Cookie": response.headers["Set-Cookie"].split(";")[0]}


def page(world: World, path: str, cookie: dict[str, str]) -> tuple[int, str]:
    response = world.h.client.http.get(BASE + path, headers=cookie)
    body = response.body
    return response.status_code, body.decode() if isinstance(body, bytes) else body


def act(world: World, cookie: dict[str, str], path: str, body: Any = None, method: str = "POST") -> tuple[int, Any]:
    response = getattr(world.h.client.http, method.lower())(
        API + path, headers={**cookie, "Content-Type": "application/json"}, body=json.dumps(body or {})
    )
    return response.status_code, json.loads(response.body) if response.body else None


@pytest.mark.parametrize("path", ["/broadcasts", "/broadcasts/new", "/catalog", "/imports"])
def test_the_new_pages_render_empty_states_that_say_what_to_do(world: World, path: str) -> None:
    status, body = page(world, path, session(world))
    assert status == 200, body
    assert 'href="/admin/console/imports"' in body and 'href="/admin/console/catalog"' in body
    if path != "/broadcasts/new":
        assert 'class="empty"' in body


def test_a_broadcast_is_created_scheduled_and_cancelled_from_the_console(world: World) -> None:
    cookie = session(world, "marketer")
    # GIVEN the form's body posted to the console's action route
    status, created = act(world, cookie, "/broadcasts", DRAFT)
    assert status == 201, created
    broadcast_id = created["id"]
    # THEN the list shows it as a draft, its name as text
    _, listed = page(world, "/broadcasts", cookie)
    assert f'data-status="{broadcast_id}">draft<' in listed and HOSTILE not in listed and ESCAPED in listed
    # WHEN scheduled for a day ahead (the form's `at`), the page offers pause and cancel, not schedule
    status, scheduled = act(world, cookie, f"/broadcasts/{broadcast_id}/schedule", {"at": "2030-01-02T09:30:00Z"})
    assert status == 200 and scheduled["status"] == "scheduled", scheduled
    _, detail = page(world, f"/broadcasts/{broadcast_id}", cookie)
    assert "data-broadcast-status>scheduled<" in detail and "2030-01-02" in detail
    assert 'id="cancel"' in detail and "/pause" in detail and 'id="schedule"' in detail
    # WHEN cancelled THEN nothing more can be done but read it
    status, cancelled = act(world, cookie, f"/broadcasts/{broadcast_id}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled"
    _, detail = page(world, f"/broadcasts/{broadcast_id}", cookie)
    assert (
        "data-broadcast-status>cancelled<" in detail and 'id="cancel"' not in detail and 'id="schedule"' not in detail
    )


def test_a_bad_broadcast_is_refused_with_its_field_and_nothing_is_saved(world: World) -> None:
    cookie = session(world)
    status, refused = act(world, cookie, "/broadcasts", {**DRAFT, "audience": {"segment": "nope"}})
    assert status == 400 and refused["field"] == "audience.segment"
    status, refused = act(world, cookie, "/broadcasts", {**DRAFT, "audience": {"rule": {"field": "x", "op": "??"}}})
    assert status == 400 and refused["field"].startswith("audience.rule")
    assert 'class="empty"' in page(world, "/broadcasts", cookie)[1]  # still no broadcast
    status, answer = act(world, cookie, "/broadcasts/bnope/schedule", {"at": "now"})
    assert status == 404
    assert page(world, "/broadcasts/bnope", cookie)[0] == 404


def test_a_sent_broadcast_shows_its_results_and_what_was_skipped_by_reason(world: World) -> None:
    cookie = session(world)
    world.customer("bc-1", email_address="bc-1@example.com")
    world.customer("bc-nocon", email_address="bc-nocon@example.com", subscribe=False)
    for user in ("bc-1", "bc-nocon"):
        world.add_to_cart(user)
    world.drain()
    _, created = act(world, cookie, "/broadcasts", {**DRAFT, "name": "Sent"})
    act(world, cookie, f"/broadcasts/{created['id']}/schedule", {"at": "now"})
    world.advance(minutes=1)
    world.drain()
    _, detail = page(world, f"/broadcasts/{created['id']}", cookie)
    summary = re.search(r"<table data-summary>.*?<tbody><tr><td>([\d,]+)</td>", detail, re.S)
    assert summary and summary.group(1) == "1", detail
    assert re.search(r'<th scope="row">no_consent</th><td>1</td>', detail), detail


def test_a_viewer_reads_every_page_but_is_refused_every_change(world: World) -> None:
    viewer = session(world, "viewer")
    for path in ("", "/broadcasts", "/catalog", "/imports", "/segments"):
        assert page(world, path, viewer)[0] == 200, path
    # THEN a page that writes is a 403 page, not a stack trace
    status, body = page(world, "/broadcasts/new", viewer)
    assert status == 403 and "needs marketer" in body and "Traceback" not in body
    # AND the actions are 403 with the role that was needed
    status, answer = act(world, viewer, "/broadcasts", DRAFT)
    assert status == 403 and answer["needs"] == "marketer"
    segment = {"rule": {"field": "computed.cart_quantity", "op": "gt", "value": 0}}
    assert act(world, viewer, "/definitions/segment/s1", segment, method="PUT")[0] == 403
    # AND the JSON route itself refuses the viewer's session too
    response = world.h.client.http.post(
        "/admin/broadcasts", headers={**viewer, "Content-Type": "application/json"}, body=json.dumps(DRAFT)
    )
    assert response.status_code == 403


def test_a_marketer_writes_broadcasts_and_segments_but_not_imports(world: World) -> None:
    marketer = session(world, "marketer")
    segment = {"rule": {"field": "computed.cart_quantity", "op": "gt", "value": 0}}
    assert act(world, marketer, "/definitions/segment/s1", segment, method="PUT")[0] in (200, 201)
    response = world.h.client.http.post(
        API + "/imports?kind=people&format=csv", headers={**marketer, "Content-Type": "text/csv"}, body=b"x"
    )
    assert response.status_code == 403
    assert page(world, "/broadcasts/new", marketer)[0] == 200


def test_an_import_uploaded_from_the_console_shows_progress_and_rejected_rows_by_line(world: World) -> None:
    cookie = session(world)
    body = (DATA / "people.csv").read_bytes() + f'u-x,"{HOSTILE}",bad\n'.encode()
    response = world.h.client.http.post(
        API + "/imports?kind=people&format=csv", headers={**cookie, "Content-Type": "text/csv"}, body=body
    )
    assert response.status_code == 202, response.body
    import_id = json.loads(response.body)["import_id"]
    world.drain()
    _, listed = page(world, "/imports", cookie)
    assert import_id in listed and 'value="1.0"' in listed
    status, detail = page(world, f"/imports/{import_id}", cookie)
    assert status == 200 and "data-import-status>finished<" in detail
    lines = re.findall(r"<tr><th scope=\"row\">(\d+)</th>", detail)
    assert lines[:2] == ["5", "6"]
    assert HOSTILE not in detail
    assert page(world, "/imports/nope", cookie)[0] == 404


def test_the_catalog_page_shows_stock_price_changes_and_the_triggers(world: World) -> None:
    cookie = session(world)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    for price, at in ((120, "2026-01-01T00:00:00Z"), (90, "2026-01-02T00:00:00Z")):
        product = {"name": "Mug " + HOSTILE, "price": price, "currency": "JPY", "stock": 3, "updated_at": at}
        response = world.h.client.http.put("/admin/catalog/products/mug", body=json.dumps(product), headers=admin)
        assert response.status_code in (200, 201), response.body
    status, body = page(world, "/catalog", cookie)
    assert status == 200 and HOSTILE not in body and ESCAPED in body
    assert re.search(r"<th scope=\"row\">mug</th><td>120</td><td>90 JPY</td>", body), body
    assert "<td>3</td><td>yes</td>" in body
    assert "data-triggers" in body or "No scenario reacts to the catalog" in body
    assert page(world, "/catalog?cursor=%%%", cookie)[0] == 400


def test_time_series_pages_have_a_date_picker_wired_to_from_and_to(world: World) -> None:
    cookie = session(world)
    for path in ("", "/deliverability"):
        status, body = page(world, path + "?from=2026-01-01&to=2026-01-10", cookie)
        assert status == 200, body
        assert "data-period" in body, body[body.find("Day by day") - 200 :][:1500]
        assert 'type="date" value="2026-01-01"' in body and 'type="date" value="2026-01-10"' in body
        assert '<label for="period-from">' in body
        # a backwards period is said on the page, with the chosen days still in the picker
        status, body = page(world, path + "?from=2026-01-10&to=2026-01-01", cookie)
        assert status == 400 and 'value="2026-01-10"' in body


# --- deployed: API Gateway's Cognito authorizer in front, no local token ---------------------------------------------


@pytest.fixture
def deployed(world: World, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The admin function as deployed: no local admin token; a user pool with the console's app client."""
    from chalicelib import bootstrap
    from chalicelib.shared import console_auth
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import get_settings

    pool = client("cognito-idp").create_user_pool(PoolName="console")["UserPool"]["Id"]
    app_client = client("cognito-idp").create_user_pool_client(UserPoolId=pool, ClientName="one2one-console")
    monkeypatch.delenv("ONE2ONE_LOCAL_ADMIN_TOKEN")
    monkeypatch.setenv(console_auth.POOL_ENV, pool)
    monkeypatch.setenv(console_auth.DOMAIN_ENV, "one2one-1.auth.us-east-1.amazoncognito.com")
    get_settings.cache_clear()
    console_auth._client_id.cache_clear()
    bootstrap.reset()
    yield app_client["UserPoolClient"]["ClientId"]
    get_settings.cache_clear()
    console_auth._client_id.cache_clear()


def through_cloudfront(world: World, method: str, path: str, groups: str | None, body: Any = None) -> tuple[int, Any]:
    """One request as API Gateway hands it over after its Cognito authorizer accepted the ID token CloudFront took
    from the cookie: the token's claims in the request context, the edge's headers."""
    from chalice.local import LambdaContext

    claims = {"token_use": "id", "email": "ann@example.com", "sub": "u-1"}
    if groups is not None:
        claims["cognito:groups"] = groups
    headers = {"host": "abc.execute-api.us-east-1.amazonaws.com", "x-forwarded-host": "d111.cloudfront.net"}
    headers |= {"x-one2one-edge": "1", "content-type": "application/json"}
    event = {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": "/api" + path,
            "stage": "api",
            "identity": {"sourceIp": "203.0.113.9"},
            "authorizer": {"claims": claims},
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }
    answer = world.h.app(event, LambdaContext("AdminAPIHandler", 512, 30000))
    return answer["statusCode"], answer["body"]


def test_deployed_the_cognito_groups_are_the_roles(world: World, deployed: str) -> None:
    # a marketer opens the writing page, behind CloudFront (links from the site's root, assets from S3's path)
    status, body = through_cloudfront(world, "GET", BASE + "/broadcasts/new", "marketer")
    assert status == 200 and 'href="/admin/console/broadcasts"' in body and "ann@example.com (marketer)" in body
    # a viewer reads but gets the 403 page for it, and a 403 for a change
    assert through_cloudfront(world, "GET", BASE + "/broadcasts", "viewer")[0] == 200
    status, body = through_cloudfront(world, "GET", BASE + "/broadcasts/new", "viewer")
    assert status == 403 and "needs marketer" in body
    status, body = through_cloudfront(world, "POST", API + "/broadcasts", "viewer", DRAFT)
    assert status == 403 and json.loads(body)["needs"] == "marketer"
    # a person in no group is refused every page
    status, body = through_cloudfront(world, "GET", BASE, None)
    assert status == 403 and "no role" in body
    # an admin's change goes through
    assert through_cloudfront(world, "POST", API + "/broadcasts", "admin", DRAFT)[0] == 201


def test_deployed_sign_in_goes_to_the_hosted_ui_and_a_forged_callback_is_refused(world: World, deployed: str) -> None:
    response = world.h.client.http.get(
        BASE + "/sign-in?next=/admin/console/imports", headers={"x-forwarded-host": "d111.cloudfront.net"}
    )
    assert response.status_code == 302, response.body
    location = response.headers["Location"]
    assert location.startswith("https://one2one-1.auth.us-east-1.amazoncognito.com/oauth2/authorize?")
    assert f"client_id={deployed}" in location
    assert "redirect_uri=https%3A%2F%2Fd111.cloudfront.net%2Fadmin%2Fconsole%2Fauth%2Fcallback" in location
    pkce = response.headers["Set-Cookie"].split(";")[0]
    # a callback whose state is not the one this browser was sent with is a 400 page, no cookie
    forged = world.h.client.http.get(BASE + "/auth/callback?code=c&state=other", headers={"Cookie": pkce})
    assert forged.status_code == 400 and "Set-Cookie" not in forged.headers
    assert "does not match" in (forged.body.decode() if isinstance(forged.body, bytes) else forged.body)


def test_deployed_the_callback_trades_the_code_and_comes_back_to_the_page(
    world: World, deployed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import parse_qs, urlsplit

    from chalicelib.api.console import cognito

    traded: list[bytes] = []

    def token_endpoint(url: str, body: bytes) -> dict[str, Any]:
        traded.append(body)
        return {"id_token": "h.p.s", "expires_in": 3600}

    monkeypatch.setattr(cognito, "_post", token_endpoint)
    edge = {"x-forwarded-host": "d111.cloudfront.net"}
    started = world.h.client.http.get(BASE + "/sign-in?next=/admin/console/imports", headers=edge)
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    pkce = started.headers["Set-Cookie"].split(";")[0]
    back = world.h.client.http.get(f"{BASE}/auth/callback?code=c1&state={state}", headers={**edge, "Cookie": pkce})
    assert back.status_code == 303 and back.headers["Location"] == BASE + "/imports"
    assert b"code_verifier=" in traded[0] and b"code=c1" in traded[0]
    id_cookie, cleared = back.headers["Set-Cookie"]
    assert id_cookie.startswith("one2one_id=h.p.s;") and "HttpOnly" in id_cookie and "Max-Age=3600" in id_cookie
    assert cleared.startswith("one2one_pkce=;") and "Max-Age=0" in cleared


def test_the_predictions_page_shows_the_last_fit_and_why_a_run_did_not_fit(world: World) -> None:
    from chalicelib.bootstrap import get_model_store
    from chalicelib.predictions.clv import BgNbdParams
    from chalicelib.predictions.models import FittedModels, TrainingReport

    cookie = session(world, "viewer")
    status, body = page(world, "/predictions", cookie)
    assert status == 200 and "No model fitted yet" in body
    store = get_model_store()
    store.save(FittedModels(BgNbdParams(0.24, 4.41, 0.79, 2.43), None, "2026-01-05T03:00:00Z", 2357))
    store.record_run(TrainingReport("insufficient_data", "2026-01-06T03:00:00Z", 12, 1, reason="1 repeat buyer"))
    status, body = page(world, "/predictions", cookie)
    assert status == 200 and "2026-01-05T03:00:00Z" in body and "alpha = 4.41" in body and "2,357" in body
    assert "not fitted (too few repeat buyers)" in body
    assert "insufficient_data" in body and "1 repeat buyer" in body
