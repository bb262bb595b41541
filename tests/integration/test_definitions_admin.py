"""Run-time definitions through the admin API on moto: effective in the fold and in scenarios, versioned, audited."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.scenario_support import (
    World,
    user_in,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
CART = "cart_abandonment"
GOLD = {
    "name": "gold_plan",
    "description": "On the gold plan.",
    "rule": {"field": "traits.plan", "op": "eq", "value": "gold"},
}


def put(world: World, path: str, body: Any, **headers: str) -> tuple[int, dict[str, Any]]:
    response = world.h.client.http.put(path, body=json.dumps(body), headers={**AUTH, **headers})
    return response.status_code, json.loads(response.body)


def get(world: World, path: str) -> tuple[int, dict[str, Any]]:
    response = world.h.admin(path)
    return response.status_code, json.loads(response.body)


def profile_segments(world: World, user: str) -> list[str]:
    return world.h.json(world.h.admin(f"/admin/profiles/{user_profile_id(user)}"))["profile"]["segments"]


def test_a_segment_created_through_the_api_is_evaluated_by_the_next_fold(world: World) -> None:
    # GIVEN a customer on the gold plan, folded before the segment exists
    world.customer("u-gold", email_address="gold@example.com", traits={"plan": "gold"})
    world.drain()
    assert "gold_plan" not in profile_segments(world, "u-gold")
    # WHEN the marketer creates the segment
    status, saved = put(world, "/admin/definitions/segment/gold_plan", GOLD)
    assert status == 201 and saved["version"] == 1 and saved["updated_by"] == "local-admin"
    # THEN the next fold of a matching profile puts it in the segment
    world.send("/v1/track", {"userId": "u-gold", "event": "Product Viewed", "properties": {"product_id": "p1"}})
    world.drain()
    assert "gold_plan" in profile_segments(world, "u-gold")
    # AND the listing shows it stored beside the packaged ones
    _, listing = get(world, "/admin/definitions/segment")
    by_id = {d["id"]: d for d in listing["definitions"]}
    assert by_id["gold_plan"]["origin"] == "stored" and by_id["cart_abandoners"]["origin"] == "file"
    # WHEN it is disabled, the next fold takes the profile out
    response = world.h.client.http.post("/admin/definitions/segment/gold_plan/disable", headers=AUTH)
    assert response.status_code == 200
    world.send("/v1/track", {"userId": "u-gold", "event": "Product Viewed", "properties": {"product_id": "p2"}})
    world.drain()
    assert "gold_plan" not in profile_segments(world, "u-gold")


def test_invalid_definitions_are_400_with_the_path(world: World) -> None:
    bad_rule = {**GOLD, "rule": {"field": "traits.plan", "op": "is_about", "value": "gold"}}
    status, body = put(world, "/admin/definitions/segment/gold_plan", bad_rule)
    assert status == 400 and body["success"] is False and body["error"] == "invalid_definition"
    assert body["field"].startswith("rule")
    _, cart = get(world, f"/admin/definitions/scenario/{CART}")
    unknown = json.loads(json.dumps(cart["body"]))
    unknown["steps"][3]["template"] = "no_such_template"
    status, body = put(world, f"/admin/definitions/scenario/{CART}", unknown)
    assert status == 400 and body["field"] == "steps[3].send.template" and "unknown template" in body["message"]
    unknown_segment = {**cart["body"], "who": {"segment": "nobody_here"}}
    status, body = put(world, f"/admin/definitions/scenario/{CART}", unknown_segment)
    assert status == 400 and body["field"] == "who.segment"
    status, body = put(world, "/admin/definitions/segment/other_name", GOLD)
    assert status == 400 and body["field"] == "name"
    status, body = put(world, "/admin/definitions/widget/x", GOLD)
    assert status == 404
    status, body = put(world, "/admin/definitions/template/t1", {"subject": "Hi {{ first_name", "text": "x"})
    assert status == 400 and body["field"] == "subject"
    assert get(world, f"/admin/definitions/scenario/{CART}/versions")[1]["versions"] == []  # nothing was stored


def test_a_stale_if_match_is_409_and_the_audit_says_who_when_what(world: World) -> None:
    assert put(world, "/admin/definitions/segment/gold_plan", GOLD, **{"If-Match": "0"})[0] == 201
    changed = {**GOLD, "rule": {"field": "traits.plan", "op": "in", "value": ["gold", "platinum"]}}
    status, saved = put(world, "/admin/definitions/segment/gold_plan", changed, **{"If-Match": '"1"'})
    assert status == 200 and saved["version"] == 2 and saved["changed"] == ["rule.op", "rule.value"]
    status, body = put(world, "/admin/definitions/segment/gold_plan", GOLD, **{"If-Match": "1"})
    assert status == 409 and body["error"] == "version_conflict" and body["field"] == "If-Match"
    _, trail = get(world, "/admin/definitions/segment/gold_plan/audit")
    assert [(e["action"], e["version"], e["by"], e["changed"]) for e in trail["audit"]] == [
        ("create", 1, "local-admin", []),
        ("update", 2, "local-admin", ["rule.op", "rule.value"]),
    ]
    assert trail["audit"][0]["at"].endswith("Z")
    status, first = get(world, "/admin/definitions/segment/gold_plan/versions/1")
    assert status == 200 and first["body"]["rule"] == GOLD["rule"]
    assert get(world, "/admin/definitions/segment/gold_plan/versions/9")[0] == 404


def test_a_run_in_flight_finishes_on_its_version_and_new_runs_use_the_new_one(world: World) -> None:
    # GIVEN a cart reminder run started on the packaged scenario (two reminders)
    old_user = user_in(CART, 10, holdout=False)
    world.customer(old_user, email_address="old@example.com")
    world.add_to_cart(old_user)
    world.drain()
    # WHEN the marketer replaces it: one reminder only, with the "final" template
    _, cart = get(world, f"/admin/definitions/scenario/{CART}")
    assert cart["origin"] == "file" and cart["version"] == 0
    new = {
        **cart["body"],
        "steps": [
            {"type": "wait", "duration": "1h"},
            {"type": "send", "id": "only", "channel": "email", "template": "cart_reminder_final"},
        ],
    }
    status, saved = put(world, f"/admin/definitions/scenario/{CART}", new, **{"If-Match": "0"})
    assert status == 201 and saved["version"] == 1
    # AND another customer starts a run on the new version
    new_user = next(u for u in (user_in(CART, 10, holdout=False, prefix=f"new{n}") for n in range(20)) if u != old_user)
    world.customer(new_user, email_address="new@example.com")
    world.add_to_cart(new_user)
    world.drain()
    # THEN after a day the old run sent both reminders of its version, the new one the single new reminder
    world.advance(hours=1, minutes=1)
    world.drain()
    world.advance(hours=23, minutes=1)
    world.drain()
    sent = world.outbox()
    to_old = [m for m in sent if "old@example.com" in m["to"]]
    to_new = [m for m in sent if "new@example.com" in m["to"]]
    assert len(to_old) == 2
    assert len(to_new) == 1 and to_new[0]["headers"]["Subject"].startswith("Still thinking it over")
    runs = {r["profile_id"]: r for r in world.runs(user_profile_id(old_user)) + world.runs(user_profile_id(new_user))}
    assert runs[user_profile_id(old_user)]["scenario_version"] == 0
    assert runs[user_profile_id(new_user)]["scenario_version"] == 1


def test_a_stored_template_is_rendered_in_place_of_the_file(world: World) -> None:
    status, _ = put(
        world,
        "/admin/definitions/template/cart_reminder_final",
        {
            "subject": "Your cart misses you, {{ first_name }}",
            "marketing": True,
            "html": "<p>Hi {{ first_name }} <a href='{{ unsubscribe_url }}'>unsubscribe</a></p>",
            "text": "Hi {{ first_name }} {{ unsubscribe_url }}",
        },
    )
    assert status == 201
    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="tpl@example.com")
    world.add_to_cart(user)
    world.drain()
    world.advance(hours=1, minutes=1)
    world.drain()
    world.advance(hours=23, minutes=1)
    world.drain()
    subjects = [m["headers"]["Subject"] for m in world.outbox() if "tpl@example.com" in m["to"]]
    assert "Your cart misses you, Hana" in subjects
