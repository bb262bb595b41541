"""The console's daily series on moto: events, active profiles and email outcomes per day, exact under replays, and
the local SES event publishing (bounce simulator -> suppression + a bounce in the day's counters)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.scenario_support import (
    World,
    user_in,
    world_fixture,  # noqa: F401 - registers `world`
)

CART = "cart_abandonment"


def daily(world: World, query: str = "") -> dict[str, Any]:
    response = world.h.admin(f"/admin/reports/daily{query}")
    assert response.status_code == 200, response.body
    return world.h.json(response)


def today(world: World) -> dict[str, Any]:
    day = world.clock.now().date().isoformat()
    [row] = [d for d in daily(world, f"?from={day}&to={day}")["days"] if d["day"] == day]
    return row


def test_events_and_active_profiles_per_day_count_each_event_and_person_once(world: World) -> None:
    # GIVEN two people, one with three events
    world.send("/v1/track", {"userId": "u-1", "event": "Product Viewed", "properties": {"product_id": "a"}})
    world.send("/v1/track", {"userId": "u-1", "event": "Product Viewed", "properties": {"product_id": "b"}})
    world.send("/v1/identify", {"userId": "u-1", "traits": {"email": "u1@example.com"}})
    world.send("/v1/track", {"userId": "u-2", "event": "Product Viewed", "properties": {"product_id": "a"}})
    world.drain()
    row = today(world)
    assert row["events"] == 4
    assert row["events_by_type"] == {"identify": 1, "track": 3}
    assert row["active_profiles"] == 2
    # WHEN the same person is active again the same day
    world.send("/v1/track", {"userId": "u-1", "event": "Product Viewed", "properties": {"product_id": "c"}})
    world.drain()
    # THEN the event counts, the person does not count twice
    row = today(world)
    assert (row["events"], row["active_profiles"]) == (5, 2)


def test_a_replayed_stream_batch_counts_nothing(world: World) -> None:
    captured: list[dict[str, Any]] = []
    handler = world.h.app.handler_map["fold_events"]

    def capture(event: dict[str, Any], context: Any) -> Any:
        captured.append(event)
        return handler(event, context)

    world.h.app.handler_map["fold_events"] = capture
    try:
        world.send("/v1/track", {"userId": "u-9", "event": "Product Viewed", "properties": {"product_id": "a"}})
        world.send("/v1/track", {"userId": "u-8", "event": "Product Viewed", "properties": {"product_id": "a"}})
        world.drain()
    finally:
        world.h.app.handler_map["fold_events"] = handler
    assert captured
    before = today(world)
    assert (before["events"], before["active_profiles"]) == (2, 2)
    # WHEN Lambda delivers each batch again (a timeout after the write), then all of them as one longer batch
    for event in captured:
        handler(event, None)
    handler({"Records": [r for event in captured for r in event["Records"]]}, None)
    after = today(world)
    assert (after["events"], after["active_profiles"]) == (2, 2)


def test_the_daily_route_refuses_bad_ranges_with_the_field(world: World) -> None:
    bad = [
        ("?from=2026-13-01", "from"),
        ("?to=yesterday", "to"),
        ("?from=2026-03-05&to=2026-03-01", "from"),
        ("?from=2025-01-01&to=2026-03-01", "from"),
    ]
    for query, field in bad:
        response = world.h.admin(f"/admin/reports/daily{query}")
        assert response.status_code == 400, query
        assert world.h.json(response)["field"] == field
    answer = daily(world)
    assert len(answer["days"]) == 30 and answer["to"] == world.clock.now().date().isoformat()
    assert answer["complaint_line"] == pytest.approx(0.003)


def _reminder_to(world: World, address: str) -> str:
    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address=address)
    world.add_to_cart(user)
    world.drain()
    world.advance(hours=1, minutes=1)
    world.drain()
    return user


def test_local_ses_events_bounce_simulator_suppresses_and_counts_a_bounce(world: World) -> None:
    from chalicelib.bootstrap import get_message_store
    from local.pump import StreamPump

    world.h.pump = StreamPump(world.h.app, ses_events=True)  # the local stack's pump
    # WHEN a reminder goes to the SES bounce simulator
    _reminder_to(world, "bounce@simulator.amazonses.com")
    world.drain()
    # THEN the address is suppressed and the day counts one sent, one bounced, nothing delivered
    assert get_message_store().is_suppressed("email", "bounce@simulator.amazonses.com")
    email = today(world)["email"]
    assert email == {"sent": 1, "delivered": 0, "bounced": 1, "complaints": 0}
    assert today(world)["bounce_rate"] == 1.0
    # AND draining again publishes nothing more (once each)
    world.drain()
    assert today(world)["email"]["bounced"] == 1


def test_local_ses_events_deliver_ordinary_mail_and_the_complaint_simulator_complains(world: World) -> None:
    from chalicelib.bootstrap import get_message_store
    from local.pump import StreamPump

    world.h.pump = StreamPump(world.h.app, ses_events=True)
    _reminder_to(world, "ada@example.com")
    world.drain()
    row = today(world)
    assert row["email"] == {"sent": 1, "delivered": 1, "bounced": 0, "complaints": 0}
    assert row["delivery_rate"] == 1.0
    user = user_in(CART, 10, holdout=False, prefix="other")
    world.customer(user, email_address="complaint@simulator.amazonses.com")
    world.add_to_cart(user)
    world.drain()
    world.advance(hours=1, minutes=1)
    world.drain()
    row = today(world)
    assert row["email"] == {"sent": 2, "delivered": 2, "bounced": 0, "complaints": 1}
    assert row["complaint_rate"] == 0.5
    assert get_message_store().is_suppressed("email", "complaint@simulator.amazonses.com")


def _page(world: World, path: str) -> tuple[int, str]:
    from tests.integration.conftest import ADMIN_TOKEN

    response = world.h.client.http.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    body = response.body.decode() if isinstance(response.body, bytes) else response.body
    return response.status_code, body


def test_console_overview_and_deliverability_show_the_daily_series(world: World) -> None:
    from local.pump import StreamPump

    world.h.pump = StreamPump(world.h.app, ses_events=True)
    _reminder_to(world, "complaint@simulator.amazonses.com")
    world.drain()
    day = world.clock.now().date().isoformat()
    status, body = _page(world, "/admin/console")
    assert status == 200, body
    assert 'aria-label="Events per day"' in body and 'aria-label="Active profiles per day' in body
    # the table under the charts holds today's numbers: events, the types seen, one active person, one sent
    [row] = [r for r in body.split("<tr>") if f'<th scope="row">{day}</th>' in r and "data-daily" not in r][:1]
    assert "<td>1</td>" in row
    status, body = _page(world, "/admin/console/deliverability")
    assert status == 200, body
    assert 'aria-label="Complaint rate per day, %"' in body
    assert 'class="limit" data-line="0.3"' in body
    # one delivered, one complaint: 100 % over the 0.3 % line, flagged in the day's row
    assert "100.00% (over 0.3%)" in body
    status, body = _page(world, "/admin/console/deliverability?from=nope")
    assert status == 400 and "YYYY-MM-DD" in body
