"""Admin preview / scenario list, and the local-only outbox and clock routes (404 unless ONE2ONE_LOCAL_TOOLS=1)."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.scenario_support import (
    World,
    user_in,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

CART = "cart_abandonment"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_template_preview_renders_for_a_profile_and_reports_errors(world: World, monkeypatch) -> None:
    from chalicelib.delivery import templating

    # GIVEN a profile with a cart
    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="preview@example.com", first_name="Aiko")
    world.add_to_cart(user)
    world.drain()
    pid = user_profile_id(user)
    # WHEN previewing the cart reminder THEN subject, html and text are personalised
    ok = world.h.admin(f"/admin/templates/cart_reminder_b/preview?profile_id={pid}")
    assert ok.status_code == 200, ok.body
    body = world.h.json(ok)
    assert body["subject"].startswith("Aiko, your cart") and "Linen Shirt" in body["html"] and body["text"]
    assert body["text"].startswith("Hi Aiko,\n") and 'href=""' not in body["html"]
    # AND ?locale=ja frames it in Japanese; an unknown locale falls back instead of failing
    ja = world.h.json(world.h.admin(f"/admin/templates/cart_reminder_b/preview?profile_id={pid}&locale=ja"))
    assert ja["text"].startswith("Aiko 様\n") and '<html lang="ja">' in ja["html"]
    odd = world.h.admin(f"/admin/templates/cart_reminder_b/preview?profile_id={pid}&locale=%3Cxx%3E")
    assert odd.status_code == 200 and world.h.json(odd)["text"].startswith("Hi Aiko,")
    # AND unknown template -> 400, unknown profile -> 404, a template error -> 422 with the message
    assert world.h.admin(f"/admin/templates/nope/preview?profile_id={pid}").status_code == 400
    assert world.h.admin("/admin/templates/cart_reminder/preview?profile_id=p_nobody").status_code == 404

    def broken(template_id, *args, **kwargs):
        raise templating.TemplateRenderError(template_id, "UndefinedError: boom")

    monkeypatch.setattr(templating, "render", broken)
    failed = world.h.admin(f"/admin/templates/cart_reminder/preview?profile_id={pid}")
    assert failed.status_code == 422 and "boom" in world.h.json(failed)["message"]


def test_scenario_list_names_every_packaged_scenario(world: World) -> None:
    response = world.h.admin("/admin/scenarios")
    assert response.status_code == 200
    ids = {s["id"] for s in world.h.json(response)["scenarios"]}
    assert {"cart_abandonment", "mql_sales_alert", "welcome_series"} <= ids


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/local/outbox"), ("GET", "/local/outbox/x.html"), ("POST", "/local/clock/advance")],
)
def test_local_tools_are_404_unless_enabled(world: World, monkeypatch, method: str, path: str) -> None:
    monkeypatch.delenv("ONE2ONE_LOCAL_TOOLS", raising=False)
    response = world.h.client.http.request(method, path, body=b'{"seconds": 60}', headers=AUTH)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/local/outbox"), ("GET", "/local/outbox/x.html"), ("POST", "/local/clock/advance")],
)
def test_local_tools_want_the_admin_token_as_header_or_query(world: World, monkeypatch, method: str, path: str) -> None:
    monkeypatch.setenv("ONE2ONE_LOCAL_TOOLS", "1")
    for headers, query in (({}, ""), ({"Authorization": "Bearer wrong"}, ""), ({}, "?token=wrong")):
        refused = world.h.client.http.request(method, path + query, body=b'{"seconds": 1}', headers=headers)
        assert refused.status_code == 401, (headers, query)
    allowed = world.h.client.http.request(method, f"{path}?token={ADMIN_TOKEN}", body=b'{"seconds": 1}', headers={})
    assert allowed.status_code != 401


def test_clock_routes_read_json_sent_as_a_form_type_and_name_unknown_keys(world: World, monkeypatch) -> None:
    monkeypatch.setenv("ONE2ONE_LOCAL_TOOLS", "1")
    form = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}  # what `curl -d` sends
    before = world.clock.now()
    moved = world.h.client.http.post("/local/clock/advance", body='{"days": 1}', headers=form)
    assert moved.status_code == 200, moved.body
    assert (world.clock.now() - before).total_seconds() >= 86400
    for path, body, named in (
        ("/local/clock/speed", '{"factor": 60}', "factor"),
        ("/local/clock/advance", '{"day": 1}', "day"),
        ("/local/clock/advance", "{}", "days"),
        ("/local/clock/advance", '{"days": "NaN"}', "days"),
        ("/local/clock/advance", "days=1", "JSON"),
        ("/local/clock/advance", '{"days": 1e300}', "days"),
    ):
        refused = world.h.client.http.post(path, body=body, headers=form)
        assert refused.status_code == 400, (path, body)
        assert named in world.h.json(refused)["message"], world.h.json(refused)


def test_clock_advance_makes_the_reminder_due_at_the_next_pump_round(world: World, monkeypatch) -> None:
    monkeypatch.setenv("ONE2ONE_LOCAL_TOOLS", "1")
    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="clock@example.com")
    world.add_to_cart(user)
    world.drain()
    before = world.clock.now()
    response = world.h.client.http.post("/local/clock/advance", body=json.dumps({"seconds": 3660}), headers=AUTH)
    assert response.status_code == 200
    assert (world.clock.now() - before).total_seconds() == 3660
    world.drain()
    assert len(world.outbox()) == 1


def test_clock_speed_runs_the_fake_clock_faster(world: World, monkeypatch) -> None:
    monkeypatch.setenv("ONE2ONE_LOCAL_TOOLS", "1")
    response = world.h.client.http.post("/local/clock/speed", body=json.dumps({"speed": 3600}), headers=AUTH)
    assert response.status_code == 200
    first = world.clock.now()
    import time

    time.sleep(0.05)
    assert (world.clock.now() - first).total_seconds() > 60  # 50 ms at x3600 is three minutes
    bad = world.h.client.http.post("/local/clock/speed", body=json.dumps({"speed": -1}), headers=AUTH)
    assert bad.status_code == 400


def test_outbox_lists_what_the_embedded_ses_recorded_and_renders_the_html(
    world: World, monkeypatch, moto_server: str
) -> None:
    # GIVEN the local tools on, reading the moto server (in-process here, as in the local stack)
    monkeypatch.setenv("ONE2ONE_LOCAL_TOOLS", "1")
    monkeypatch.setenv("ONE2ONE_MOTO_URL", moto_server)
    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="outbox@example.com", first_name="Mei")
    world.add_to_cart(user)
    world.drain()
    world.advance(hours=1, minutes=1)
    world.drain()
    # WHEN the outbox is read
    response = world.h.client.http.get("/local/outbox", headers=AUTH)
    assert response.status_code == 200, response.body
    [message] = [m for m in world.h.json(response)["messages"] if m["kind"] == "email"]
    # THEN it shows the email with its headers, and its HTML renders as a page
    assert "outbox@example.com" in message["to"]
    assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    page = world.h.client.http.get(f"/local/outbox/{message['id']}.html?token={ADMIN_TOKEN}")  # as a browser opens it
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode() if isinstance(page.body, bytes) else page.body
    assert "Mei" in html


def test_outbox_without_a_moto_server_is_503(world: World, monkeypatch) -> None:
    monkeypatch.setenv("ONE2ONE_LOCAL_TOOLS", "1")
    monkeypatch.delenv("ONE2ONE_MOTO_URL", raising=False)
    assert world.h.client.http.get("/local/outbox", headers=AUTH).status_code == 503
