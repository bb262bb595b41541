"""Delivery service against in-memory fakes: one step executed exactly once, the send path, waits, the crash window,
and the queue handler's partial failures (powertools). No moto: the adapters are held to the fakes' behaviour by
tests/contract/test_message_store.py."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from chalicelib.delivery.exceptions import RetryLater
from chalicelib.delivery.ports import OutgoingEmail, ProviderOutcomeUnknown, ProviderRejected
from chalicelib.delivery.steps import STUCK_AFTER, DeliveryService, step_message
from chalicelib.engagement import tokens as lt
from chalicelib.engagement.links import LinkSettings
from chalicelib.engagement.recorder import EngagementService
from chalicelib.scenarios import definitions as sc
from chalicelib.scenarios.engine import ScenarioRun
from chalicelib.shared.clock import FakeClock
from tests.fakes.delivery import (
    FakeDueStore,
    FakeEmail,
    FakeEvents,
    FakeMessageStore,
    FakeNotifier,
    FakeProfiles,
    FakeRunStore,
    FakeStepQueue,
    FakeWebhook,
)
from tests.fakes.engagement import FakeEngagementStore

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo (the packaged default zone): no quiet hours
BASE = "https://shop.example"
RING = lt.Keyring({"k1": b"k1-secret-0123456789abcdef-32byt"}, current="k1")
PROFILE_ID = "p_1"
TRIGGER = "evt:web#m1"
SCENARIO = sc.Scenario.model_validate(
    {
        "id": "cart_test",
        "name": "Cart test",
        "when": {"type": "event", "event": "Product Added"},
        "steps": [
            {"type": "send", "id": "reminder_1", "channel": "email", "template": "cart_reminder"},
            {"type": "wait", "duration": "1d"},
            {"type": "send", "id": "reminder_2", "channel": "email", "template": "cart_reminder"},
        ],
        "marketing": True,
        "topic": "cart_reminders",
        "holdout_percent": 0,
    }
)


@dataclass
class Rendered:
    subject: str
    html: str
    text: str
    sms: str | None = None


def render(template: str, profile: dict[str, Any], extra: dict[str, Any], **_: Any) -> Rendered:
    html = (
        f'<html><body><a href="{BASE}/p/42">Your cart</a>'
        f'<a href="{extra.get("unsubscribe_url", "")}">Unsubscribe</a></body></html>'
    )
    return Rendered(subject=f"{template} for {profile['profile_id']}", html=html, text="Your cart")


def consenting(profile_id: str = PROFILE_ID, email: str = "hana@example.com") -> dict[str, Any]:
    return {
        "profile_id": profile_id,
        "email": email,
        "consent": {"email": {"status": "opted_in", "at": "2026-01-01T00:00:00Z"}},
    }


@dataclass
class World:
    service: DeliveryService
    clock: FakeClock
    runs: FakeRunStore
    messages: FakeMessageStore
    due: FakeDueStore
    queue: FakeStepQueue
    profiles: FakeProfiles
    email: FakeEmail
    engagement_store: FakeEngagementStore
    sent_hook: list[dict[str, Any]]

    def start_run(self, step_index: int = 0) -> ScenarioRun:
        run = ScenarioRun(
            scenario_id=SCENARIO.id,
            profile_id=PROFILE_ID,
            trigger_id=TRIGGER,
            step_index=step_index,
            due_at=self.clock.now(),
            entered_at=self.clock.now(),
        )
        assert self.runs.create(run)
        return run

    def step(self, step_index: int = 0, **extra: Any) -> None:
        self.service.execute(step_message(PROFILE_ID, TRIGGER, step_index, **extra))

    def run(self) -> ScenarioRun:
        run = self.runs.get(PROFILE_ID, TRIGGER)
        assert run is not None
        return run


@pytest.fixture
def world() -> World:
    clock = FakeClock(NOW)
    messages, engagement_store = FakeMessageStore(), FakeEngagementStore()
    engagement_store.messages = messages
    sent_hook: list[dict[str, Any]] = []
    runs, due, queue, email = FakeRunStore(), FakeDueStore(), FakeStepQueue(), FakeEmail()
    profiles = FakeProfiles(consenting())
    service = DeliveryService(
        runs=runs,
        messages=messages,
        due=due,
        queue=queue,
        # EventStore and ProfileStore are still ABCs in tracking/ports.py; the fakes satisfy the methods used.
        profiles=cast(Any, profiles),
        events=cast(Any, FakeEvents()),
        email=email,
        notifier=FakeNotifier(),
        webhook=FakeWebhook(),
        related=None,
        clock=clock,
        links=LinkSettings(BASE, "unsubscribe@shop.example", keyring=lambda: RING, signing_key=lambda: "coupon-key"),
        scenarios=[SCENARIO],
        renderer=render,
        on_sent=lambda record: sent_hook.append(dict(record)),
        preferences=engagement_store.preferences,
    )
    return World(service, clock, runs, messages, due, queue, profiles, email, engagement_store, sent_hook)


def unsubscribe_token(email: OutgoingEmail) -> str:
    match = re.search(rf"<{BASE}/u/([^>]+)>", email.headers["List-Unsubscribe"])
    assert match is not None
    return match.group(1)


def test_a_due_send_step_sends_once_with_signed_links_and_records_it(world: World) -> None:
    # GIVEN a run at its first step, due now
    world.start_run()
    # WHEN the step message is executed
    world.step(0)
    # THEN one email went out, with the one-click unsubscribe headers and tracked links
    [email] = world.email.sent
    assert email.to == "hana@example.com" and email.subject == "cart_reminder for p_1"
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = unsubscribe_token(email)
    expected = lt.LinkPayload(email.message_id, PROFILE_ID, topic="cart_reminders", channel="email")
    assert lt.verify(RING, token, "unsub") == expected
    assert f'href="{BASE}/u/{token}"' in email.html  # unsubscribe links are never rewritten
    [click] = re.findall(rf'href="{BASE}/t/c/([^"]+)"', email.html)
    assert lt.verify(RING, click, "click", now=NOW).url == f"{BASE}/p/42"
    assert re.search(rf'src="{BASE}/t/o/[^"]+\.gif"', email.html)
    # AND the record is `sent`, the send log counts it, the report hook saw it, and the run waits for its next step
    [record] = world.messages.for_profile(PROFILE_ID)
    assert record["status"] == "sent" and record["provider_id"] == "ses-1"
    assert [h["status"] for h in record["history"]] == ["sending", "sent"]
    assert [s["channel"] for s in world.messages.sends_since(PROFILE_ID, NOW - timedelta(days=1))] == ["email"]
    assert [r["message_id"] for r in world.sent_hook] == [email.message_id]
    assert world.run().step_index == 2 and world.run().due_at == NOW + timedelta(days=1)
    assert list(world.due.due(NOW, NOW + timedelta(days=2))) == [step_message(PROFILE_ID, TRIGGER, 2)]


def test_a_redelivered_step_message_sends_nothing(world: World) -> None:
    world.start_run()
    world.step(0)
    world.step(0)  # the queue delivered it twice
    assert len(world.email.sent) == 1
    assert world.service.last_stats.stale == 1


def test_a_throttled_send_raises_retry_later_then_sends_once(world: World) -> None:
    # GIVEN SES throttles the first call
    world.start_run()
    world.email.failures.append(ProviderRejected("TooManyRequestsException", "slow down", retryable=True))
    # WHEN the step runs  THEN it asks the queue to retry, and nothing was sent
    with pytest.raises(RetryLater):
        world.step(0)
    assert world.email.sent == [] and world.messages.for_profile(PROFILE_ID)[0]["status"] == "retry"
    # WHEN the queue retries it  THEN it is sent once, and the record tells the story
    world.step(0)
    [record] = world.messages.for_profile(PROFILE_ID)
    assert len(world.email.sent) == 1
    assert [h["status"] for h in record["history"]] == ["sending", "retry", "sending", "sent"]


def test_a_permanent_rejection_fails_the_message_without_retry(world: World) -> None:
    world.start_run()
    world.email.failures.append(ProviderRejected("MessageRejected", "bad address", retryable=False))
    world.step(0)
    [record] = world.messages.for_profile(PROFILE_ID)
    assert record["status"] == "failed" and record["reason"] == "MessageRejected"


def test_an_unknown_provider_outcome_is_never_resent_automatically(world: World) -> None:
    # GIVEN SES timed out after the request may have reached it
    world.start_run()
    world.email.failures.append(ProviderOutcomeUnknown("read timeout"))
    world.step(0)
    # THEN the record is `unknown`, the sweep lists it, and a redelivery sends nothing
    [record] = world.messages.for_profile(PROFILE_ID)
    assert record["status"] == "unknown"
    assert [r["message_id"] for r in world.service.sweep_stuck()] == [record["message_id"]]
    world.step(0)
    assert world.email.sent == []
    # WHEN an operator retries it  THEN it is resent once through the queue
    assert world.service.retry_message(PROFILE_ID, TRIGGER, 0)
    [message] = world.queue.take()
    world.service.execute(message)
    assert len(world.email.sent) == 1 and world.messages.for_profile(PROFILE_ID)[0]["status"] == "sent"


def test_a_send_stuck_in_the_crash_window_becomes_unknown_after_the_threshold(world: World) -> None:
    # GIVEN a record left `sending` (the process died inside the provider call)
    world.start_run()
    world.messages.claim(
        {
            "profile_id": PROFILE_ID,
            "trigger_id": TRIGGER,
            "step_index": 0,
            "status": "sending",
            "message_id": "m1",
            "channel": "email",
            "scenario_id": SCENARIO.id,
        },
        NOW,
    )
    # WHEN the sweep runs before and after STUCK_AFTER
    assert world.service.sweep_stuck() == []
    world.clock.advance(STUCK_AFTER + timedelta(seconds=1))
    [unknown] = world.service.sweep_stuck()
    # THEN it is reported unknown, and never sent
    assert unknown["status"] == "unknown" and unknown["reason"] == "crash_window" and world.email.sent == []


def test_a_suppressed_address_is_skipped_with_the_reason(world: World) -> None:
    world.start_run()
    world.messages.suppress("email", "HANA@example.com", "bounce", NOW)
    world.step(0)
    [record] = world.messages.for_profile(PROFILE_ID)
    assert world.email.sent == [] and record["status"] == "skipped" and record["reason"] == "suppressed"


def test_a_one_click_unsubscribe_stops_the_next_send_before_the_fold_catches_up(world: World) -> None:
    # GIVEN the first reminder went out
    world.start_run()
    world.step(0)
    token = unsubscribe_token(world.email.sent[0])
    # WHEN the person unsubscribes through the link (engagement verifies the token delivery issued)
    engagement = EngagementService(
        store=world.engagement_store,
        messages=world.messages,
        events=FakeEvents(),
        clock=world.clock,
        keyring=lambda: RING,
    )
    payload = engagement.unsubscribe_payload(token)
    assert payload is not None
    engagement.unsubscribe(payload, "one_click")
    # AND the second reminder comes due (the profile itself still says opted in)
    world.clock.advance(timedelta(days=1))
    world.step(2)
    # THEN nothing more is sent, and the record says why
    assert len(world.email.sent) == 1
    skipped = world.messages.get(PROFILE_ID, TRIGGER, 2)
    assert skipped is not None and skipped["reason"] == "no_consent"


def test_a_short_wait_goes_to_the_queue_with_a_delay(world: World) -> None:
    world.service.schedule(step_message(PROFILE_ID, TRIGGER, 1), NOW + timedelta(seconds=30), NOW)
    world.service.schedule(step_message(PROFILE_ID, TRIGGER, 2), NOW + timedelta(minutes=5), NOW)
    assert world.queue.sent == [(step_message(PROFILE_ID, TRIGGER, 1), 30)]
    assert list(world.due.due(NOW, NOW + timedelta(minutes=5))) == [step_message(PROFILE_ID, TRIGGER, 2)]


def test_release_due_enqueues_what_came_due_once(world: World) -> None:
    world.due.put(NOW + timedelta(minutes=1), "p_1#t#1", step_message(PROFILE_ID, "t", 1))
    world.due.set_cursor(NOW)
    world.clock.advance(timedelta(minutes=2))
    assert world.service.release_due() == 1
    assert world.service.release_due() == 0  # the cursor moved past it
    assert world.queue.take() == [step_message(PROFILE_ID, "t", 1)]


def test_a_missing_profile_ends_the_run(world: World) -> None:
    world.profiles.items.clear()
    world.start_run()
    world.step(0)
    assert world.run().status != "active" and world.run().exit_reason == "profile_gone"


def test_an_unreadable_queue_body_is_dropped_not_retried(world: World) -> None:
    world.service.execute_step("{not json")  # no exception: the queue deletes it
    assert world.email.sent == []


def test_the_queue_handler_reports_only_the_failed_steps(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import bootstrap
    from chalicelib.handlers.delivery import deliver_steps

    # GIVEN a batch: a step whose send is throttled, an unreadable message, and a step whose run does not exist
    world.start_run()
    world.email.failures.append(ProviderRejected("Throttling", "slow down", retryable=True))
    monkeypatch.setattr(bootstrap, "get_delivery_service", lambda: world.service)
    records = [
        {"messageId": "throttled", "body": json.dumps(step_message(PROFILE_ID, TRIGGER, 0))},
        {"messageId": "garbage", "body": "{nope"},
        {"messageId": "stale", "body": json.dumps(step_message(PROFILE_ID, "other", 0))},
    ]
    # WHEN the handler runs  THEN only the throttled one goes back to the queue
    response = deliver_steps({"Records": records}, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "throttled"}]}
    # AND when every record fails, the batch is still answered (not raised), so SQS retries exactly those
    world.email.failures.append(ProviderRejected("Throttling", "slow down", retryable=True))
    assert deliver_steps({"Records": records[:1]}, None) == {"batchItemFailures": [{"itemIdentifier": "throttled"}]}
    assert deliver_steps({"Records": records[:1]}, None) == {"batchItemFailures": []}
    assert len(world.email.sent) == 1


def test_a_cart_reminder_from_the_demo_shop_links_every_card_and_the_cart_back_to_the_shop_click_tracked() -> None:
    # GIVEN the real templates, a web source whose settings name the shop's home and cart page, and a ja recipient
    # whose cart holds a EUR product with its page and one the event gave no URL
    from chalicelib.tracking.sources import Source, SourceSettings

    web = Source(
        source_id="web",
        key_hash="h",
        allowed_origins=["https://shop.example"],
        settings=SourceSettings(shop_url="https://shop.example/", cart_url="https://shop.example/cart"),
    )
    profile = {
        **consenting(),
        "traits": {"firstName": "Hana", "locale": "ja-JP"},
        "computed": {
            "cart": [
                {
                    "product_id": "p-102",
                    "name": "Trail Shoes",
                    "price": 89.0,
                    "quantity": 1,
                    "currency": "EUR",
                    "url": "https://shop.example/p/102",
                },
                {"product_id": "p-101", "name": "Ceramic Mug", "price": 12.5, "quantity": 1, "currency": "EUR"},
            ]
        },
    }
    clock, messages, email = FakeClock(NOW), FakeMessageStore(), FakeEmail()
    runs = FakeRunStore()
    service = DeliveryService(
        runs=runs,
        messages=messages,
        due=FakeDueStore(),
        queue=FakeStepQueue(),
        profiles=cast(Any, FakeProfiles(profile)),
        events=cast(Any, FakeEvents()),
        email=email,
        notifier=FakeNotifier(),
        webhook=FakeWebhook(),
        related=None,
        clock=clock,
        links=LinkSettings(BASE, "unsubscribe@shop.example", keyring=lambda: RING, signing_key=lambda: "coupon-key"),
        scenarios=[SCENARIO],
        sources=lambda: [web],
    )
    assert runs.create(
        ScenarioRun(
            scenario_id=SCENARIO.id,
            profile_id=PROFILE_ID,
            trigger_id=TRIGGER,
            step_index=0,
            due_at=NOW,
            entered_at=NOW,
            context={"event": "Product Added", "product_id": "p-102", "source_id": "web"},
        )
    )
    # WHEN the reminder step is executed
    service.execute(step_message(PROFILE_ID, TRIGGER, 0))
    # THEN every card and the cart button is a signed click link back to the shop (the URL-less card to its home)
    [sent] = email.sent
    targets = {
        lt.verify(RING, token, "click", now=NOW).url for token in re.findall(rf'href="{BASE}/t/c/([^"]+)"', sent.html)
    }
    assert targets == {"https://shop.example/p/102", "https://shop.example/", "https://shop.example/cart"}
    assert 'href=""' not in sent.html
    # AND prices are in euros for a ja reader, greeted by name; the text part carries the same links
    assert "€89.00" in sent.html and "¥" not in sent.html and "￥" not in sent.html
    assert sent.text.startswith("Hana 様\n") and "https://shop.example/cart" in sent.text
