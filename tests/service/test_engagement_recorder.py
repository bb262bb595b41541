"""Engagement service against in-memory fakes: opens, clicks, unsubscribes under both token schemes, preferences,
double opt-in, SES feedback and conversions land once, on the right report row. No moto."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.engagement import tokens as lt
from chalicelib.engagement.recorder import EngagementService, row_key
from chalicelib.scenarios.engine import ScenarioRun
from chalicelib.shared.clock import FakeClock
from chalicelib.tracking.events import TrackedEvent
from tests.fakes.delivery import FakeEmail, FakeEvents, FakeMessageStore, FakeRunStore
from tests.fakes.engagement import FakeEngagementStore

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
SIGNING_KEY = "test-signing-key"
RING = lt.keyring_from_signing_key(SIGNING_KEY, "k1")
TOPIC = "arn:aws:sns:us-east-1:123456789012:one2one-ses-feedback"
SES_EVENTS = Path(__file__).resolve().parents[2] / "events" / "ses"
HUMAN_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4"
MESSAGE_ID = "m0123456789abcdef01234567"
ROW = row_key("reminder_1", None, "email")
# Minted by delivery's former `sign_token` (see tests/unit/test_link_tokens.py): mail already sent carries these.
LEGACY_UNSUB = (
    "k1.eyJjIjoiZW1haWwiLCJtIjoibTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2NyIsInAiOiJwXzEiLCJ0IjoiY2FydF9yZW1pbmRlcnMifQ"
    ".47nPr5Zqemh-0AVhgPnAAQ"
)


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(NOW)
        self.messages = FakeMessageStore()
        self.runs = FakeRunStore()
        self.store = FakeEngagementStore(messages=self.messages, runs=self.runs)
        self.events = FakeEvents()
        self.email = FakeEmail()
        self.service = EngagementService(
            store=self.store,
            messages=self.messages,
            events=self.events,
            clock=self.clock,
            keyring=lambda: RING,
            legacy_unsubscribe_keys={"k1": SIGNING_KEY},
            feedback_topic_arns=lambda: (TOPIC,),
            email=self.email,
            public_base_url="https://shop.example",
        )

    def sent(self, profile_id: str = "p_1", message_id: str = MESSAGE_ID) -> None:
        """A message delivery sent (its record, as delivery leaves it)."""
        record: Any = {
            "profile_id": profile_id,
            "trigger_id": "evt:web#m1",
            "step_index": 0,
            "message_id": message_id,
            "scenario_id": "cart_abandonment",
            "step_id": "reminder_1",
            "channel": "email",
            "marketing": True,
            "status": "sending",
        }
        assert self.messages.claim(record, self.clock.now())
        assert self.messages.finish(profile_id, "evt:web#m1", 0, "sent", self.clock.now(), sent_at="2026-05-01T09:00Z")
        self.service.message_sent(record)

    def counters(self) -> dict[str, float]:
        return self.store.rows("cart_abandonment")[ROW]


@pytest.fixture
def world() -> World:
    return World()


def token(purpose: lt.Purpose, **payload: Any) -> str:
    assert RING is not None
    return lt.issue(RING, purpose, lt.LinkPayload(MESSAGE_ID, "p_1", **payload))


def test_a_human_open_counts_once_and_becomes_a_touch(world: World) -> None:
    # GIVEN a sent message  WHEN a person opens it two minutes later, and reloads the image
    world.sent()
    world.clock.advance(timedelta(minutes=2))
    assert world.service.record_open(token("open"), HUMAN_UA, "203.0.113.9")
    assert world.service.record_open(token("open"), HUMAN_UA, "203.0.113.9")
    # THEN one human open on the report row, one event, one touch for attribution
    assert world.counters() == {"sent": 1, "human_opens": 1}
    assert len(world.events.named("Email Opened")) == 1
    assert [t["kind"] for t in world.store.touches("p_1", NOW)] == ["human_open"]


def test_a_forged_or_foreign_open_is_ignored(world: World) -> None:
    world.sent()
    assert not world.service.record_open(token("open")[:-2] + "AA", HUMAN_UA, None)
    assert not world.service.record_open(token("click", url="https://shop.example/p"), HUMAN_UA, None)
    assert world.counters() == {"sent": 1}


def test_a_click_is_verified_then_counted_once_per_message(world: World) -> None:
    world.sent()
    world.clock.advance(timedelta(minutes=3))
    payload = world.service.click_target(token("click", url="https://shop.example/p/42"))
    assert payload is not None and payload.url == "https://shop.example/p/42"
    world.service.record_click(payload, HUMAN_UA, "203.0.113.9")
    world.service.record_click(payload, HUMAN_UA, "203.0.113.9")
    assert world.counters()["clicks"] == 1
    assert world.service.click_target("k1.WyJjIl0.AAAAAAAAAAAAAAAAAAAAAA") is None


@pytest.mark.parametrize("scheme", ["one scheme", "retired scheme"])
def test_an_unsubscribe_link_opts_out_now_and_counts_on_its_message(world: World, scheme: str) -> None:
    # GIVEN an unsubscribe link of either scheme (mail already sent keeps working)
    world.sent()
    link = token("unsub", topic="cart_reminders", channel="email") if scheme == "one scheme" else LEGACY_UNSUB
    # WHEN the person confirms the one-click unsubscribe
    payload = world.service.unsubscribe_payload(link)
    assert payload is not None and payload.profile_id == "p_1" and payload.topic == "cart_reminders"
    world.service.unsubscribe(payload, "one_click")
    # THEN the opt-out is effective at once, recorded as an event and counted on the message's row
    assert world.store.preferences("p_1")["email"]["status"] == "opted_out"
    [event] = world.events.named("Email Unsubscribed")
    assert event.properties["message_id"] == MESSAGE_ID and event.properties["topic"] == "cart_reminders"
    assert world.counters()["unsubscribes"] == 1


def test_an_unsubscribe_token_is_not_a_click_or_open_token(world: World) -> None:
    assert world.service.unsubscribe_payload(token("open")) is None
    assert world.service.click_target(token("unsub", channel="email")) is None
    assert world.service.record_open(LEGACY_UNSUB, HUMAN_UA, None) is False


def test_the_preference_page_changes_only_what_differs(world: World) -> None:
    payload = lt.LinkPayload(MESSAGE_ID, "p_1", channel="email")
    world.service.set_preferences(payload, {"email": True}, {"offers": False})
    assert world.store.preferences("p_1") == {
        "email#offers": {"status": "opted_out", "at": "2026-05-01T09:00:00.000Z", "source": "preferences"}
    }
    assert [e.event for e in world.events.events.values()] == ["Email Topic Unsubscribed"]


def test_double_opt_in_subscribes_only_through_the_latest_link(world: World) -> None:
    # GIVEN two sign-ups of the same person
    first = world.service.request_subscription("p_1", "hana@example.com", "footer")
    world.clock.advance(timedelta(minutes=1))
    world.service.request_subscription("p_1", "hana@example.com", "footer")
    links = [m.group(1) for e in world.email.sent if (m := re.search(r"/confirm/(\S+)", e.text))]
    assert len(links) == 2
    # WHEN the first (superseded) link is followed  THEN nothing happens; the latest one subscribes
    stale = world.service.confirm_payload(links[0])
    assert stale is not None and stale.message_id == first and not world.service.confirm(stale)
    latest = world.service.confirm_payload(links[1])
    assert latest is not None and world.service.confirm(latest)
    assert world.store.preferences("p_1")["email"]["status"] == "opted_in"
    [event] = world.events.named("Email Subscribed")
    assert event.properties["method"] == "double_opt_in" and event.properties["source"] == "footer"
    # AND the link expires
    world.clock.advance(timedelta(days=8))
    assert world.service.confirm_payload(links[1]) is None


def test_a_permanent_bounce_suppresses_counts_once_and_marks_the_message(world: World) -> None:
    envelope = json.loads((SES_EVENTS / "bounce_permanent.json").read_text())
    event = json.loads(envelope["Message"])
    event["mail"]["tags"]["profile"] = ["p_1"]
    event["mail"]["tags"]["message_id"] = [MESSAGE_ID]
    event["mail"]["tags"]["variant"] = ["none"]
    envelope["Message"] = json.dumps(event)
    world.sent()
    suppressed: list[tuple[str, str, str]] = []

    def suppress(channel: str, address: str, reason: str, at: datetime) -> None:
        suppressed.append((channel, address, reason))

    assert world.service.handle_feedback(envelope, suppress) == "bounce"
    assert world.service.handle_feedback(envelope, suppress) == "duplicate"  # SNS redelivered it
    assert suppressed == [("email", "hanako@example.jp", "bounce")] * 2  # an idempotent put, twice
    assert world.counters()["bounced"] == 1
    assert world.messages.for_profile("p_1")[0]["bounced_at"] == "2026-05-01T09:00:01.842Z"


def test_feedback_from_a_foreign_topic_is_dropped_and_counted(world: World) -> None:
    envelope = json.loads((SES_EVENTS / "bounce_permanent.json").read_text()) | {"TopicArn": "arn:aws:sns:x:1:other"}
    assert world.service.handle_feedback(envelope, lambda *_: None) == "dropped"
    assert world.store.rows("$feedback") == {"dropped#none#-": {"rejected": 1}}


def test_an_order_after_a_click_is_attributed_to_that_message_and_counted_for_the_run(world: World) -> None:
    # GIVEN a run entered and a human click on its message
    run = ScenarioRun(scenario_id="cart_abandonment", profile_id="p_1", trigger_id="t1", due_at=NOW, entered_at=NOW)
    world.service.run_starting(run)
    world.runs.create(run)
    world.sent()
    world.clock.advance(timedelta(minutes=5))
    payload = world.service.click_target(token("click", url="https://shop.example/p/42"))
    assert payload is not None
    world.service.record_click(payload, HUMAN_UA, "203.0.113.9")
    # WHEN the person orders an hour later (and the stream replays the order)
    at = NOW + timedelta(hours=1)
    order = TrackedEvent(
        message_id="o-1", source_id="web", type="track", profile_id="p_1", timestamp=at, received_at=at,
        event="Order Completed", properties={"order_id": "o-1", "revenue": 98.0},
    )  # fmt: skip
    world.service.orders("p_1", [order], [run])
    world.service.orders("p_1", [order], [run])
    # THEN the conversion and revenue are on the clicked message's row, and on the run's arm, once
    assert world.counters()["conversions"] == 1 and world.counters()["revenue"] == 98.0
    assert world.store.rows("cart_abandonment")["*#treated#*"] == {"assigned": 1, "run_conversions": 1}


def _order(key: str, at: datetime, revenue: float) -> TrackedEvent:
    return TrackedEvent(
        message_id=key, source_id="web", type="track", profile_id="p_1", timestamp=at, received_at=at,
        event="Order Completed", properties={"order_id": key, "revenue": revenue},
    )  # fmt: skip


def test_orders_in_a_runs_window_count_on_it_and_one_after_the_window_counts_nothing(world: World) -> None:
    # GIVEN a held-out run entered now
    run = ScenarioRun(
        scenario_id="cart_abandonment", profile_id="p_1", trigger_id="t1", due_at=NOW, entered_at=NOW, holdout=True
    )
    world.service.run_starting(run)
    world.runs.create(run)
    # WHEN the person orders twice within 7 days (one order replayed), and once after
    orders = [_order("o-1", NOW + timedelta(hours=1), 40), _order("o-2", NOW + timedelta(days=6), 60)]
    world.service.orders("p_1", orders, [run])
    world.service.orders("p_1", orders[:1], [run])
    world.service.orders("p_1", [_order("o-3", NOW + timedelta(days=7, minutes=1), 500)], [run])
    # THEN the run holds the two orders and their revenue; no counter row was written for them
    assert world.store.rows("cart_abandonment")["*#holdout#*"] == {"assigned": 1, "run_conversions": 2, "revenue": 100}
    assert world.store.rows("cart_abandonment", assignments=False) == {}


def test_orders_past_a_runs_cap_count_once_on_the_legacy_counter(world: World) -> None:
    from chalicelib.engagement.messages_table import MAX_RUN_ORDERS

    run = ScenarioRun(scenario_id="cart_abandonment", profile_id="p_1", trigger_id="t1", due_at=NOW, entered_at=NOW)
    world.runs.create(run)
    orders = [_order(f"o-{n}", NOW + timedelta(minutes=n), 1) for n in range(MAX_RUN_ORDERS + 2)]
    world.service.orders("p_1", orders, [run])
    world.service.orders("p_1", orders, [run])  # the stream replays the batch
    assert world.store.rows("cart_abandonment")["*#treated#*"] == {
        "assigned": 1,
        "run_conversions": MAX_RUN_ORDERS + 2,
    }
    assert world.store.rows("cart_abandonment", assignments=False) == {"*#treated#*": {"run_conversions": 2}}


def test_starting_runs_lists_their_scenario_and_counts_nothing(world: World) -> None:
    """The recorder names each run's scenario; the DynamoDB store writes the listing once per scenario per warm
    container (tests/contract/test_engagement_store.py)."""
    listings: list[str] = []
    list_scenario = world.store.list_scenario
    world.store.list_scenario = lambda scenario_id, now: (listings.append(scenario_id), list_scenario(scenario_id, now))  # type: ignore[method-assign]
    for n, scenario_id in enumerate(("cart_abandonment", "cart_abandonment", "welcome", "cart_abandonment")):
        run = ScenarioRun(scenario_id=scenario_id, profile_id=f"p_{n}", trigger_id=f"t{n}", due_at=NOW, entered_at=NOW)
        world.service.run_starting(run)
    assert listings == ["cart_abandonment", "cart_abandonment", "welcome", "cart_abandonment"]
    assert world.store.scenario_ids(10, None) == (["cart_abandonment", "welcome"], None)
    assert world.store.facts == set() and world.store.rows("cart_abandonment") == {}  # the run records count
