"""The in-app use cases with fakes: the fetch (event triggers timed by the profile the real fold writes), views /
clicks / dismissals folded back (idempotent, into caps, dismissal and reports), and a scenario step's delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.inapp import InAppService, parse_message, report_id
from chalicelib.inapp.service import MESSAGE_ROW
from chalicelib.profiles import codec
from chalicelib.profiles.config import ProfileConfig
from chalicelib.profiles.fold import fold
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
    "again_later": {
        "id": "again_later",
        "kind": "banner",
        "title": "Still thinking it over?",
        "trigger": {"event": "Product Added", "show_for": "30m"},
        "dismissal": {"show_again_after": "1h"},
    },
}
CONFIG = ProfileConfig()


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

    def track(self, anon: str, *events: TrackedEvent) -> int:
        """What the pipeline does with tracked events: the fold writes the profile, then the profiles-stream consumer
        hands the new events and the body to `apply_events`. The test's segments stay as given."""
        person = self.people[anon]
        folded = fold(person, person.profile_id, list(events), CONFIG, self.clock.now()).profile
        folded.segments = person.segments
        self.people[anon] = folded
        document = codec.body_dict(codec.to_item(folded))
        return self.service.apply_events(person.profile_id, events, document)

    def event(self, anon: str, name: str, n: int = 0, at: datetime | None = None, **properties: Any) -> TrackedEvent:
        return TrackedEvent(
            message_id=f"{anon}-{name}-{n}",
            source_id="web",
            type="track",
            profile_id=f"p-{anon}",
            timestamp=at or self.clock.now(),
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


def test_a_trigger_event_puts_its_message_up_for_its_time_and_writes_no_in_app_state(world: World) -> None:
    world.person("bob")
    assert world.ids("bob") == []
    # WHEN the person views a product (folded into the profile, then handed to the in-app wing)
    assert world.track("bob", world.event("bob", "Product Viewed")) == 0  # nothing for the in-app state
    # THEN the banner is up from the next fetch, and no in-app state was written for it
    assert world.ids("bob") == ["after_view"]
    assert world.store.items == {}
    world.clock.advance(timedelta(days=1))
    assert world.ids("bob") == []  # `show_for` 1d after the view


def test_a_later_view_raises_the_message_again_and_a_late_older_one_does_not_end_it_sooner(world: World) -> None:
    world.person("bea")
    world.track("bea", world.event("bea", "Product Viewed", 1))
    world.clock.advance(timedelta(hours=20))
    world.track("bea", world.event("bea", "Product Viewed", 2))
    world.clock.advance(timedelta(hours=10))
    assert world.ids("bea") == ["after_view"]  # 30 h after the first view, 10 h after the second
    # WHEN a view from two days ago arrives only now THEN the banner still lasts a day after the latest view
    world.track("bea", world.event("bea", "Product Viewed", 3, at=world.clock.now() - timedelta(days=2)))
    assert world.ids("bea") == ["after_view"]
    world.clock.advance(timedelta(hours=14))
    assert world.ids("bea") == []


def test_a_dismissed_triggered_message_comes_back_on_a_later_event_only_when_it_allows_it(world: World) -> None:
    world.person("dot")
    world.track("dot", world.event("dot", "Product Viewed"), world.event("dot", "Product Added"))
    assert world.ids("dot") == ["after_view", "again_later"]
    world.clock.advance(timedelta(minutes=5))
    world.track(
        "dot",
        world.event("dot", "In-App Message Dismissed", 1, message_id="after_view"),
        world.event("dot", "In-App Message Dismissed", 2, message_id="again_later"),
    )
    assert world.ids("dot") == []
    world.clock.advance(timedelta(hours=2))
    assert world.ids("dot") == []  # `again_later` may show again, but its trigger ended (30 minutes)
    # WHEN the person views and adds again THEN only the message that allows it after an hour comes back
    world.track("dot", world.event("dot", "Product Viewed", 1), world.event("dot", "Product Added", 1))
    assert world.ids("dot") == ["again_later"]
    state = world.store.get("p-dot")
    assert state is not None and set(state.dismissed) == {"after_view", "again_later"} and state.triggered == {}


def test_views_cap_the_message_and_a_replayed_view_counts_once(world: World) -> None:
    pid = world.person("cat")
    world.track("cat", world.event("cat", "Product Viewed"))
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
    world.track("gus", world.event("gus", "Product Viewed"))
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
    world.service.apply_events(pid, [world.event("hal", "In-App Message Viewed", message_id="vip_card")])
    state = world.store.get(pid)
    assert state is not None and state.impressions_since("vip_card", NOW - timedelta(minutes=1)) == 1  # 2nd attempt
    failures.append(ValueError("a bug"))
    with pytest.raises(ValueError):
        world.service.apply_events(pid, [world.event("hal", "In-App Message Viewed", 1, message_id="vip_card")])


def test_feedback_lands_on_the_scenario_report_while_its_message_is_up_and_not_once_an_event_put_it_up_again(
    world: World,
) -> None:
    world.person("ivy")
    world.service.deliver("p-ivy", "after_view", {"scenario_id": "browse", "step_id": "s1", "message_id": "m9"})
    world.clock.advance(timedelta(hours=1))
    # WHEN a product view comes while the scenario's message is up THEN a view of it is still the scenario's
    world.track(
        "ivy",
        world.event("ivy", "Product Viewed"),
        world.event("ivy", "In-App Message Viewed", 1, message_id="after_view"),
    )
    assert world.reports.rows("browse").get("s1#none#in_app") == {"human_opens": 1}
    # WHEN the scenario's day is over and a new view puts the banner up THEN a click on it is the event's alone
    world.clock.advance(timedelta(days=1))
    world.track(
        "ivy",
        world.event("ivy", "Product Viewed", 2),
        world.event("ivy", "In-App Message Clicked", 2, message_id="after_view"),
    )
    assert world.reports.rows("browse").get("s1#none#in_app") == {"human_opens": 1}
    message_report = world.reports.rows(report_id("after_view")).get(MESSAGE_ROW)
    assert message_report == {"impressions": 1, "viewers": 1, "clicks": 1}
