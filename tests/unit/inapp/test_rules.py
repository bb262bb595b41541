"""Eligibility: dates, targeting by segment or trigger, frequency caps, dismissal, and priority order (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.inapp import InAppState, Triggered, parse_message
from chalicelib.inapp.model import InAppMessage
from chalicelib.inapp.rules import eligible
from chalicelib.tracking.events import iso

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def message(mid: str = "m", **extra: Any) -> InAppMessage:
    return parse_message({"id": mid, "kind": "banner", "title": mid, **extra})


def shown(messages: list[InAppMessage], segments: tuple[str, ...] = (), state: InAppState | None = None,
          now: datetime = NOW) -> list[str]:  # fmt: skip
    return [m.id for m in eligible(messages, segments, state or InAppState(), now)]


def triggered(mid: str, *, by: str = "event", ago: timedelta = timedelta(0), lasts: timedelta = timedelta(days=1),
              **extra: Any) -> InAppState:  # fmt: skip
    state = InAppState()
    state.triggered[mid] = Triggered(at=iso(NOW - ago), until=iso(NOW - ago + lasts), by=by, **extra)
    return state


def test_a_segment_message_shows_to_members_only() -> None:
    vip = message(segment="vip")
    assert shown([vip], ("vip",)) == ["m"]
    assert shown([vip], ("other",)) == []


def test_a_message_without_target_shows_only_when_a_scenario_sent_it() -> None:
    plain = message()
    assert shown([plain]) == []
    assert shown([plain], state=triggered("m", by="scenario")) == ["m"]


def test_a_triggered_message_shows_while_its_trigger_lasts_and_within_its_segment() -> None:
    after_view = message(trigger={"event": "Product Viewed", "show_for": "1d"})
    assert shown([after_view]) == []
    assert shown([after_view], state=triggered("m")) == ["m"]
    assert shown([after_view], state=triggered("m", ago=timedelta(days=2))) == []  # expired
    members_after_view = message(trigger={"event": "Product Viewed"}, segment="vip")
    assert shown([members_after_view], ("vip",), triggered("m")) == ["m"]
    assert shown([members_after_view], (), triggered("m")) == []


def test_start_and_end_dates_bound_the_message() -> None:
    later = message(segment="vip", start_at=iso(NOW + timedelta(hours=1)))
    over = message(segment="vip", end_at=iso(NOW))
    running = message(segment="vip", start_at=iso(NOW - timedelta(days=1)), end_at=iso(NOW + timedelta(seconds=1)))
    assert shown([later], ("vip",)) == []
    assert shown([over], ("vip",)) == []  # the end is exclusive
    assert shown([running], ("vip",)) == ["m"]


def test_the_frequency_cap_counts_impressions_in_the_window_only() -> None:
    capped = message(segment="vip", frequency={"max_impressions": 2, "per": "1d"})
    state = InAppState()
    state.impression("m", NOW - timedelta(hours=30), "e0")  # outside the window
    state.impression("m", NOW - timedelta(hours=2), "e1")
    assert shown([capped], ("vip",), state) == ["m"]
    state.impression("m", NOW - timedelta(hours=1), "e2")
    assert shown([capped], ("vip",), state) == []
    assert shown([capped], ("vip",), state, NOW + timedelta(hours=23)) == ["m"]  # e1 left the window


def test_a_replayed_impression_is_counted_once() -> None:
    state = InAppState()
    assert state.impression("m", NOW, "evt-1") is True
    assert state.impression("m", NOW, "evt-1") is False
    assert state.impressions_since("m", NOW - timedelta(minutes=1)) == 1


def test_a_dismissed_message_is_never_shown_again_unless_it_allows_it() -> None:
    forever = message(segment="vip")
    week = message("w", segment="vip", dismissal={"show_again_after": "7d"})
    state = InAppState()
    state.dismiss("m", NOW - timedelta(days=30))
    state.dismiss("w", NOW - timedelta(days=3))
    assert shown([forever, week], ("vip",), state) == []
    assert shown([forever, week], ("vip",), state, NOW + timedelta(days=5)) == ["w"]


def test_a_scenario_sending_a_message_again_after_a_dismissal_shows_it() -> None:
    plain = message()
    state = triggered("m", by="scenario")
    state.dismiss("m", NOW - timedelta(days=1))
    assert shown([plain], state=state) == ["m"]
    state.dismiss("m", NOW)
    assert shown([plain], state=state) == []


def test_messages_come_highest_priority_first_ties_by_id() -> None:
    low, high, tie = (
        message("b", segment="s", priority=1),
        message("z", segment="s", priority=9),
        message("a", segment="s", priority=1),
    )
    assert shown([low, high, tie], ("s",)) == ["z", "a", "b"]


def test_state_round_trips_through_its_json_form() -> None:
    state = triggered("m", by="scenario", scenario_id="sc", step_id="s1", variant="default", message_id="mx")
    state.impression("m", NOW, "e1")
    state.click("m", NOW)
    state.dismiss("m", NOW)
    again = InAppState.from_dict(state.to_dict(), 3)
    assert again.to_dict() == state.to_dict() and again.version == 3


def test_an_event_trigger_does_not_take_a_live_scenario_message_from_its_scenario() -> None:
    state = triggered("m", by="scenario", scenario_id="sc", message_id="mx")
    later = Triggered(at=iso(NOW + timedelta(hours=1)), until=iso(NOW + timedelta(days=2)))
    assert state.trigger("m", later) is False and state.triggered["m"].scenario_id == "sc"
    after_expiry = Triggered(at=iso(NOW + timedelta(days=3)), until=iso(NOW + timedelta(days=4)))
    assert state.trigger("m", after_expiry) is True and state.triggered["m"].by == "event"


def test_an_event_trigger_is_timed_by_the_latest_time_of_its_event_and_a_later_stored_trigger_wins() -> None:
    after_view = message(trigger={"event": "Product Viewed", "show_for": "1d"})
    hours_ago = NOW.timestamp() - 3 * 3600
    derived = InAppState()
    derived.add_event_triggers([after_view], {"Product Viewed": hours_ago, "Order Completed": NOW.timestamp()})
    assert derived.triggered["m"] == Triggered(at=iso(NOW - timedelta(hours=3)), until=iso(NOW + timedelta(hours=21)))
    assert shown([after_view], state=derived) == ["m"]
    assert shown([after_view], state=derived, now=NOW + timedelta(hours=21)) == []
    # an event trigger an earlier deployment stored, later than the profile's time, stands; an older one gives way
    stored_later = triggered("m", ago=timedelta(hours=1))
    stored_later.add_event_triggers([after_view], {"Product Viewed": hours_ago})
    assert stored_later.triggered["m"].at == iso(NOW - timedelta(hours=1))
    stored_older = triggered("m", ago=timedelta(days=2))
    stored_older.add_event_triggers([after_view], {"Product Viewed": hours_ago})
    assert stored_older.triggered["m"].at == iso(NOW - timedelta(hours=3))
    # a message with no event trigger, or an event the person never had, is left as it is
    nothing = InAppState()
    nothing.add_event_triggers([message("n", segment="vip"), after_view], {"Order Completed": hours_ago})
    assert nothing.triggered == {}
