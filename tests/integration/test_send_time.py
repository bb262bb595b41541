"""Send-time optimisation through the whole pipeline (moto): opens learned by the fold, a send deferred through the
due store to the person's best hour and sent then once, and the report's per-arm rows."""

from __future__ import annotations

from typing import Any

from tests.integration.scenario_support import (
    World,
    user_in,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)
from tests.integration.test_engagement import APPLE_MPP_UA, HUMAN_UA, _click_paths, _get, _pixel_path, _sent_reminder

CART = "cart_abandonment"


def _profile(world: World, user: str) -> dict[str, Any]:
    response = world.h.admin(f"/admin/profiles/{user_profile_id(user)}")
    assert response.status_code == 200, response.body
    return world.h.json(response)["profile"]


def test_human_opens_and_clicks_become_the_engagement_hours_of_the_profile(world: World) -> None:
    # GIVEN a cart reminder sent at 02:01 UTC to a person whose zone is not known
    user = user_in(CART, 10, holdout=False)
    sent = _sent_reminder(world, user, "hours@example.com")
    # WHEN Apple's proxy fetches the pixel, and the person opens and clicks two minutes later
    _get(world, _pixel_path(sent["html"]), Accept="image/*", **{"User-Agent": APPLE_MPP_UA})
    world.advance(minutes=2)
    _get(world, _pixel_path(sent["html"]), **{"User-Agent": HUMAN_UA, "X-Forwarded-For": "203.0.113.9"})
    _get(world, _click_paths(sent["html"])[0], **{"User-Agent": HUMAN_UA})
    world.drain()
    # THEN the fold counted the human open and click at hour 2 (UTC: no zone known), and not the proxy's fetch
    histogram = _profile(world, user)["engagement_hours"]["email"]
    assert histogram["zone"] is None
    assert histogram["hours"][2] == 2.0 and sum(histogram["hours"]) == 2.0


def test_an_optimised_reminder_waits_in_the_due_store_for_the_fallback_hour_and_goes_once(world: World) -> None:
    from chalicelib.bootstrap import get_delivery_service
    from chalicelib.scenarios.definitions import SendTime

    # GIVEN the cart reminder opted into send-time optimisation, with no control arm
    service = get_delivery_service()
    scenarios = list(service.scenarios.values())
    cart = service.scenarios[CART]
    steps = [
        s.model_copy(update={"send_time": SendTime(control_share=0)}) if getattr(s, "id", None) == "reminder_1" else s
        for s in cart.steps
    ]
    service._scenarios = [s if s.id != CART else cart.model_copy(update={"steps": steps}) for s in scenarios]
    # AND a Tokyo customer with no engagement history, whose reminder comes due at 11:01 Tokyo time
    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="sto@example.com", timezone="Asia/Tokyo")
    world.add_to_cart(user)
    world.drain()
    world.advance(hours=1, minutes=1)
    world.drain()
    # THEN nothing is sent: the reminder waits for 10:00 Tokyo tomorrow (the fallback hour), 01:00 UTC
    assert world.outbox() == []
    [record] = [m for m in world.messages(user_profile_id(user)) if m["scenario_id"] == CART]
    assert (record["status"], record["reason"], record["sto"]) == ("deferred", "send_time", "optimised")
    assert record["until"] == "2026-03-03T01:00:00.000Z"
    # WHEN the minute reader reaches it
    world.clock.set(world.clock.now().replace(day=3, hour=1, minute=1))
    world.drain()
    world.drain()
    # THEN it is sent, once, and the report counts it on the optimised arm
    assert len(world.outbox()) == 1
    [record] = [m for m in world.messages(user_profile_id(user)) if m["scenario_id"] == CART]
    assert record["status"] == "sent" and [h["status"] for h in record["history"]] == ["deferred", "sending", "sent"]
    report = world.h.json(world.h.admin(f"/admin/reports/scenarios/{CART}"))
    [row] = report["send_time"]
    assert (row["step"], row["channel"]) == ("reminder_1", "email")
    assert row["arms"]["optimised"]["sent"] == 1 and "control" not in row["arms"]
