"""The console's pages through Chalice's test client: each page renders from real stored data, refuses without a
session, keeps hostile values as text, and answers bad input with a 4xx page, never a 5xx."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.scenario_support import (
    World,
    user_in,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BASE = "/admin/console"
CART = "cart_abandonment"
HOSTILE = "<script>alert(1)</script>"
PAGES = [
    "",
    "/profiles",
    "/segments",
    "/segments/cart_abandoners",
    "/scenarios",
    "/scenarios/cart_abandonment",
    "/templates",
    "/deliverability",
    "/failed-events",
]


def get(world: World, path: str, **headers: str) -> Any:
    return world.h.client.http.get(BASE + path, headers={**AUTH, **headers})


def text(response: Any) -> str:
    body = response.body
    return body.decode() if isinstance(body, bytes) else body


@pytest.fixture
def shopper(world: World) -> str:
    """A subscribed customer with a cart, an HTML trait, and the cart reminder sent."""
    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="ada@example.com", first_name="Ada", traits={"nickname": HOSTILE})
    world.add_to_cart(user)
    world.drain()
    world.advance(hours=2)
    world.drain()
    return user


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_the_admin_token(world: World, shopper: str, path: str) -> None:
    response = get(world, path)
    assert response.status_code == 200, text(response)
    body = text(response)
    assert response.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert '<html lang="en">' in body and "<h1>" in body and 'href="/admin/console/segments"' in body


@pytest.mark.parametrize("path", [*PAGES, "/profiles/p_x", "/outbox"])
def test_without_a_session_every_page_is_the_sign_in_form_keeping_the_path(world: World, path: str) -> None:
    response = world.h.client.http.get(BASE + path + "?x=1")
    assert response.status_code == 401
    assert f'name="next" value="{BASE}{path}?x=1"' in text(response)
    assert 'type="password"' in text(response)


def sign_in(world: World, token: str, next_path: str = BASE + "/segments") -> Any:
    return world.h.client.http.post(
        BASE + "/sign-in",
        body=f"token={token}&next={next_path}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_signing_in_sets_a_cookie_that_pages_and_the_json_api_accept(world: World) -> None:
    # WHEN the right token is posted THEN a 303 back to the page, with an HttpOnly, SameSite=Strict cookie
    response = sign_in(world, ADMIN_TOKEN)
    assert response.status_code == 303 and response.headers["Location"] == BASE + "/segments"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert ADMIN_TOKEN not in cookie  # an HMAC of an expiry, never the token
    session = {"Cookie": cookie.split(";")[0]}
    # THEN the cookie opens a page and the JSON API the page's script calls
    assert world.h.client.http.get(BASE + "/segments", headers=session).status_code == 200
    assert world.h.client.http.get("/admin/segments", headers=session).status_code == 200
    # AND a wrong token is refused on the form, a forged cookie is no session, and signing out clears it
    assert sign_in(world, "guess").status_code == 401
    assert "not the admin token" in text(sign_in(world, "guess"))
    forged = {"Cookie": f"one2one_console={int(time.time()) + 999}.00ff"}
    assert world.h.client.http.get("/admin/segments", headers=forged).status_code == 401
    out = world.h.client.http.post(
        BASE + "/sign-out", body="", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert out.status_code == 303 and "Max-Age=0" in out.headers["Set-Cookie"]


def test_an_expired_session_is_the_sign_in_page_again(world: World) -> None:
    from chalicelib.api import session

    old = session.issue(ADMIN_TOKEN, now=time.time() - session.LIFETIME_SECONDS - 1)
    response = world.h.client.http.get(BASE + "/scenarios", headers={"Cookie": f"{session.COOKIE}={old}"})
    assert response.status_code == 401 and f'value="{BASE}/scenarios"' in text(response)


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/elsewhere"])
def test_sign_in_never_sends_the_browser_off_the_console(world: World, target: str) -> None:
    response = sign_in(world, ADMIN_TOKEN, target)
    assert response.status_code == 303 and response.headers["Location"] == BASE


def test_the_profile_page_is_a_360_view_with_html_shown_as_text(world: World, shopper: str) -> None:
    # GIVEN a shopper found by email
    found = get(world, "/profiles?q=ada@example.com")
    assert found.status_code == 303
    profile_id = user_profile_id(shopper)
    assert found.headers["Location"] == f"{BASE}/profiles/{profile_id}"
    # WHEN their page is opened
    body = text(get(world, f"/profiles/{profile_id}"))
    # THEN the trait's HTML is escaped text, never markup
    assert HOSTILE not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    # AND events, segments, messages with their status and the run are on it
    assert "Product Added" in body and "cart_abandoners" in body
    assert "cart_abandonment" in body and "Messages and guard decisions" in body


def test_profile_search_and_unknown_profiles_are_404_pages_that_say_what_to_try(world: World) -> None:
    missing = get(world, "/profiles?q=nobody@example.com")
    assert missing.status_code == 404 and "No profile has" in text(missing)
    assert get(world, "/profiles/p_nobody").status_code == 404
    assert get(world, "/segments/nope").status_code == 404
    assert get(world, "/scenarios/nope").status_code == 404


def test_the_overview_sums_what_the_scenarios_sent(world: World, shopper: str) -> None:
    body = text(get(world, ""))
    sent = re.search(r'data-kpi="sent">([\d,]+)<', body)
    assert sent and int(sent.group(1).replace(",", "")) >= 1
    assert "Failed events per day" in body and "cart_abandoners" in body


def test_a_segment_page_lists_members_and_the_editor_refusal_names_the_field(world: World, shopper: str) -> None:
    body = text(get(world, "/segments/cart_abandoners"))
    assert user_profile_id(shopper) in body and 'data-api="/admin/definitions/segment/{id}"' in body
    # the editor's PUT: a bad rule is a 400 naming the field
    bad = world.h.client.http.put(
        "/admin/definitions/segment/console_test",
        body='{"rule": {"field": "computed.cart_quantity", "op": "nope", "value": 1}}',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert bad.status_code == 400 and world.h.json(bad)["field"]


def test_the_template_page_previews_for_a_profile_and_reports_bad_choices(world: World, shopper: str) -> None:
    profile_id = user_profile_id(shopper)
    ok = get(world, f"/templates?template=cart_reminder&profile_id={profile_id}")
    assert ok.status_code == 200 and "Ada" in text(ok)
    assert 'class="phone"' in text(ok) and 'class="desktop"' in text(ok)
    frame = get(world, f"/templates/cart_reminder/frame?profile_id={profile_id}")
    assert frame.status_code == 200 and "sandbox" in frame.headers["Content-Security-Policy"]
    assert get(world, f"/templates?template=nope&profile_id={profile_id}").status_code == 400
    assert get(world, "/templates?template=cart_reminder").status_code == 400
    assert get(world, "/templates?template=cart_reminder&profile_id=p_nobody").status_code == 404


def test_the_scenario_page_draws_the_steps_and_the_funnel(world: World, shopper: str) -> None:
    body = text(get(world, "/scenarios/cart_abandonment"))
    assert 'class="flow"' in body and "Funnel per step" in body and "Holdout" in body


def test_failed_events_page_lists_a_day_and_bad_days_are_400(world: World) -> None:
    world.h.post("/v1/track", {"userId": "u-bad", "event": ""})  # refused: recorded as a failed event
    body = text(get(world, "/failed-events"))
    assert "Replay" in body or "No failed event" in body
    assert get(world, "/failed-events?day=yesterday").status_code == 400


def test_the_outbox_page_is_404_without_the_local_tools(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONE2ONE_LOCAL_TOOLS", raising=False)
    response = get(world, "/outbox")
    assert response.status_code == 404 and "local stack only" in text(response)


def test_static_files_are_served_and_nothing_else_is(world: World) -> None:
    assert world.h.client.http.get(BASE + "/static/console.js").status_code == 200
    assert world.h.client.http.get(BASE + "/static/console.css").status_code == 200
    assert world.h.client.http.get(BASE + "/static/render.py").status_code == 404
    assert world.h.client.http.get(BASE + "/static/..%2Froutes.py").status_code == 404


def test_a_next_path_with_a_line_break_cannot_split_the_location_header(world: World) -> None:
    response = sign_in(world, ADMIN_TOKEN, BASE + "%0d%0aSet-Cookie:x=1")
    assert response.status_code == 303 and response.headers["Location"] == BASE


def test_an_overlong_search_is_a_400_page(world: World) -> None:
    response = get(world, "/profiles?q=" + "a" * 400)
    assert response.status_code == 400 and "too long" in text(response)
