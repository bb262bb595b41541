"""The in-app use cases with fakes: the fetch, views / clicks / dismissals and trigger events folded back (idempotent,
into caps, dismissal and reports), and a scenario step's delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.inapp import InAppService, parse_message, report_id
from chalicelib.inapp.service import MESSAGE_ROW
from chalicelib.profiles.model import Profile
from chalicelib.profiles.ports import StoredProfile
from chalicelib.shared.clock import FakeClock
from chalicelib.tracking.events import TrackedEvent
from tests.fakes.engagement import FakeEngagementStore
from tests.fakes.inapp import InMemoryInAppStateStore

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MESSAGES = {
    "after_view": {
        "id": "after_view",
        "kind": "banner",
        "title": "Free shipping",
        "trigger": {"event": "Product Viewed", "show_for": "1d"},
        "frequency": {"max_impressions": 2, "per": "1d"},
        "priority": 10,
    },
    "vip_card": {"id": "vip_card", "kind": "card", "placement": "home", "title": "<b>VIP</b>", "segment": "vip"},
    "by_scenario": {"id": "by_scenario", "kind": "modal", "title": "Welcome", "priority": 50},
}


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(NOW)
        self.store = InMemoryInAppStateStore()
        self.reports = FakeEngagementStore()
        self.people: dict[str, Profile] = {}
        self.messages = {mid: parse_message(body) for mid, body in MESSAGES.items()}
        self.service = InAppService(
            visitor=self.visitor,
            store=self.store,
            messages=lambda: self.messages,
            clock=self.clock,
            reports=self.reports,
        )

    def visitor(self, anonymous_id: str | None, user_id: str | None) -> StoredProfile | None:
        person = self.people.get(anonymous_id or "")
        if person is None:
            return None
        return StoredProfile(person.profile_id, 1, load=lambda: person, read=lambda: {})

    def person(self, anon: str, segments: list[str] | None = None) -> str:
        self.people[anon] = Profile(profile_id=f"p-{anon}", segments=segments or [])
        return f"p-{anon}"

    def event(self, anon: str, name: str, n: int = 0, **properties: Any) -> TrackedEvent:
        return TrackedEvent(
            message_id=f"{anon}-{name}-{n}",
            source_id="web",
            type="track",
            profile_id=f"p-{anon}",
            timestamp=self.clock.now(),
            received_at=self.clock.now(),
            event=name,
            properties=properties,
        )

    def ids(self, anon: str) -> list[str]:
        return [m["id"] for m in self.service.fetch(anon, None)["messages"]]


@pytest.fixture
def world() -> World:
    return World()


def test_an_unknown_visitor_gets_no_messages_and_costs_no_state_read(world: World) -> None:
    assert world.service.fetch("stranger", None) == {"visitor": {"known": False}, "messages": []}
    assert world.store.reads == 0


def test_a_segment_member_gets_the_card_with_its_text_as_given(world: World) -> None:
    world.person("ann", ["vip"])
    body = world.service.fetch("ann", None)
    assert body["messages"] == [
        {"id": "vip_card", "kind": "card", "priority": 0, "title": "<b>VIP</b>", "placement": "home"}
    ]
    assert world.store.reads == 1


def test_a_trigger_event_puts_its_message_up_for_its_time(world: World) -> None:
    pid = world.person("bob")
    assert world.ids("bob") == []
    assert world.service.apply_events(pid, [world.event("bob", "Product Viewed")]) == 1
    assert world.ids("bob") == ["after_view"]
    world.clock.advance(timedelta(days=1, seconds=1))
    assert world.ids("bob") == []


def test_views_cap_the_message_and_a_replayed_view_counts_once(world: World) -> None:
    pid = world.person("cat")
    world.service.apply_events(pid, [world.event("cat", "Product Viewed")])
    first = world.event("cat", "In-App Message Viewed", 1, message_id="after_view")
    world.service.apply_events(pid, [first])
    world.service.apply_events(pid, [first])  # the stream delivers the record again
    assert world.ids("cat") == ["after_view"]
    world.service.apply_events(pid, [world.event("cat", "In-App Message Viewed", 2, message_id="after_view")])
    assert world.ids("cat") == []  # 2 a day
    assert world.reports.rows(report_id("after_view")).get(MESSAGE_ROW) == {"impressions": 2, "viewers": 1}


def test_a_dismissal_hides_the_message_for_good_and_is_reported(world: World) -> None:
    pid = world.person("dan", ["vip"])
    world.service.apply_events(pid, [world.event("dan", "In-App Message Dismissed", message_id="vip_card")])
    world.service.apply_events(pid, [world.event("dan", "In-App Message Clicked", message_id="vip_card")])
    world.clock.advance(timedelta(days=300))
    assert world.ids("dan") == []
    assert world.reports.rows(report_id("vip_card")).get(MESSAGE_ROW) == {"dismissals": 1, "clicks": 1}


def test_events_about_unknown_messages_and_other_events_change_nothing(world: World) -> None:
    pid = world.person("eve")
    events = [world.event("eve", "In-App Message Viewed", message_id="nope"), world.event("eve", "Order Completed")]
    assert world.service.apply_events(pid, events) == 0
    assert world.store.items == {}


def test_a_scenario_step_delivers_once_and_its_views_and_clicks_land_on_the_scenario_report(world: World) -> None:
    pid = world.person("fay")
    record = {"scenario_id": "welcome", "step_id": "nudge", "variant": "default", "message_id": "m123"}
    assert world.service.deliver(pid, "by_scenario", record) == "in_app:by_scenario"
    version = world.store.items[pid][1]
    world.service.deliver(pid, "by_scenario", record)  # the same step again: nothing new
    assert world.store.items[pid][1] == version
    assert world.ids("fay") == ["by_scenario"]
    world.service.apply_events(pid, [world.event("fay", "In-App Message Viewed", message_id="by_scenario")])
    world.service.apply_events(pid, [world.event("fay", "In-App Message Clicked", message_id="by_scenario")])
    assert world.reports.rows("welcome").get("nudge#default#in_app") == {"human_opens": 1, "clicks": 1}
    world.clock.advance(timedelta(days=8))
    assert world.ids("fay") == []  # a scenario's message stays up a week


def test_delivering_an_unknown_message_raises_key_error(world: World) -> None:
    with pytest.raises(KeyError):
        world.service.deliver("p-x", "missing", {})


def test_messages_are_ordered_by_priority(world: World) -> None:
    pid = world.person("gus", ["vip"])
    world.service.apply_events(pid, [world.event("gus", "Product Viewed")])
    world.service.deliver(pid, "by_scenario", {"scenario_id": "s", "message_id": "m1"})
    assert world.ids("gus") == ["by_scenario", "after_view", "vip_card"]


def test_a_transient_storage_failure_is_retried_in_place_and_a_bug_is_not(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.inapp import service
    from chalicelib.shared.faults import StorageUnavailable

    monkeypatch.setattr(service, "WRITE_BACKOFF_SECONDS", 0.0)
    pid = world.person("hal")
    real_update, failures = world.store.update, [StorageUnavailable("throttled")]

    def flaky(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_update(*args)

    monkeypatch.setattr(world.store, "update", flaky)
    world.service.apply_events(pid, [world.event("hal", "Product Viewed")])
    assert world.ids("hal") == ["after_view"]  # applied on the second attempt, the record not sent back
    failures.append(ValueError("a bug"))
    with pytest.raises(ValueError):
        world.service.apply_events(pid, [world.event("hal", "Product Viewed", 1)])
