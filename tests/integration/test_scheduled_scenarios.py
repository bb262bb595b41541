"""Scheduled scenarios on moto: the minute firer claims each (scenario, fire time) once, the audience queue pages the
segment, one run starts per member and each member gets exactly one message."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from chalicelib.scenarios.definitions import Scenario
from tests.integration.scenario_support import (
    World,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

# START is 01:00 UTC; 02:00 UTC is 11:00 in Tokyo (the default zone), outside quiet hours.
WEEKLY = {
    "id": "cart_digest",
    "name": "Cart digest",
    "who": {"segment": "cart_abandoners"},
    "when": {"type": "schedule", "cron": "0 2 * * *", "timezone": "UTC"},
    "steps": [{"type": "send", "id": "digest", "channel": "email", "template": "dormant_we_miss_you"}],
    "reentry": "always",
}


@pytest.fixture
def scheduled(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """The app with one scheduled scenario instead of the packaged ones."""
    from chalicelib import bootstrap

    monkeypatch.setattr(bootstrap, "get_scenarios", lambda: [Scenario.model_validate(WEEKLY)])
    bootstrap.reset()
    return world


def _members(world: World, n: int) -> list[str]:
    users = [f"digest-{i}" for i in range(n)]
    for user in users:
        world.customer(user, email_address=f"{user}@example.com")
        world.add_to_cart(user)
    world.drain()
    return users


def _invoke(world: World, name: str) -> Any:
    from tests.integration.test_sweeps import run_job

    return run_job(world.h, name)


def _mail_by_recipient(world: World) -> Counter[str]:
    # moto lists an address once per header it appears in: count messages, not destinations
    return Counter(to for message in world.outbox() for to in set(message["to"]))


def test_a_schedule_fires_once_per_fire_time_and_each_member_gets_exactly_one_message(scheduled: World) -> None:
    # GIVEN three people in the audience segment, and the firer's first run before the cron time
    world = scheduled
    users = _members(world, 3)
    assert _invoke(world, "fire_schedules") == {"fired": 0, "launched": 0}

    # WHEN the clock passes 02:00 and the firer runs, then runs again (a retried or duplicated invocation)
    world.advance(hours=1, minutes=1)
    assert _invoke(world, "fire_schedules") == {"fired": 1, "launched": 0}
    assert _invoke(world, "fire_schedules") == {"fired": 0, "launched": 0}
    world.drain()  # audience queue -> runs -> delivery queue -> SES

    # THEN each member got one digest, and each has one run of this fire time
    mail = _mail_by_recipient(world)
    assert {f"{u}@example.com": 1 for u in users} == {k: v for k, v in mail.items() if k.startswith("digest-")}
    for user in users:
        runs = [r for r in world.runs(user_profile_id(user)) if r["scenario_id"] == "cart_digest"]
        assert [r["trigger_id"] for r in runs] == ["cart_digest:schedule:2026-03-02T02:00:00.000Z"]


def test_a_replayed_fan_out_starts_nothing_twice_and_sends_nothing_twice(scheduled: World) -> None:
    # GIVEN a fired schedule whose fan-out has run
    from chalicelib.bootstrap import get_audience_fanout, get_audience_queue
    from chalicelib.scenarios.fanout import page_message

    world = scheduled
    users = _members(world, 2)
    _invoke(world, "fire_schedules")
    world.advance(hours=1, minutes=1)
    _invoke(world, "fire_schedules")
    world.drain()
    before = _mail_by_recipient(world)

    # WHEN the same page message is delivered again (SQS at least once) and the firer's claim is asked again
    trigger = "cart_digest:schedule:2026-03-02T02:00:00.000Z"
    get_audience_queue().enqueue([page_message("cart_digest", trigger, "cart_abandoners", None)])
    world.drain()

    # THEN no one gets a second message: the replay found both runs (duplicates), it started none
    assert _mail_by_recipient(world) == before
    assert sum(before[f"{u}@example.com"] for u in users) == 2
    stats = get_audience_fanout().last_stats
    assert (stats.started, stats.duplicates) == (2, 2)


def test_after_downtime_only_the_latest_missed_fire_time_fires(scheduled: World) -> None:
    # GIVEN a member, and the firer last ran at 01:00
    world = scheduled
    [user] = _members(world, 1)
    _invoke(world, "fire_schedules")

    # WHEN it comes back three days later (three 02:00 fire times missed)
    world.advance(days=3)
    assert _invoke(world, "fire_schedules") == {"fired": 1, "launched": 0}
    world.drain()

    # THEN only the latest one started a run
    runs = [r for r in world.runs(user_profile_id(user)) if r["scenario_id"] == "cart_digest"]
    assert [r["trigger_id"] for r in runs] == ["cart_digest:schedule:2026-03-04T02:00:00.000Z"]


def test_a_page_larger_than_one_query_is_walked_to_the_end(scheduled: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN pages of two members and five members
    from chalicelib.bootstrap import get_audience_fanout

    world = scheduled
    users = _members(world, 5)
    monkeypatch.setattr(get_audience_fanout(), "page_size", 2)

    # WHEN the schedule fires
    _invoke(world, "fire_schedules")
    world.advance(hours=1, minutes=1)
    _invoke(world, "fire_schedules")
    world.drain()

    # THEN all five were reached through three chained pages
    assert all(_mail_by_recipient(world)[f"{u}@example.com"] == 1 for u in users)
