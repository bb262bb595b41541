"""The push channel through the delivery service (fakes): devices, consent, quiet hours, caps, retirement, the rate,
and exactly once under retried deliveries and crashes between the message record and the publish."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from chalicelib.delivery import templating
from chalicelib.delivery.exceptions import RetryLater
from chalicelib.delivery.guards import ChannelRate, DeliveryConfig, FrequencyCap, QuietHours, default_delivery_config
from chalicelib.delivery.pacing import SendPacer
from chalicelib.delivery.ports import ProviderOutcomeUnknown, ProviderRejected
from chalicelib.delivery.push import PushSpec
from chalicelib.delivery.steps import DeliveryService, step_message
from chalicelib.engagement import tokens as lt
from chalicelib.engagement.links import LinkSettings
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
    FakePushSender,
    FakePushTokens,
    FakeRunStore,
    FakeSendRateCounter,
    FakeStepQueue,
    FakeWebhook,
)

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo: no quiet hours
RING = lt.Keyring({"k1": b"k1-secret-0123456789abcdef-32byt"}, current="k1")
APNS = "a1" * 32
APNS_OLD = "c3" * 32
FCM = "cXk1:APA91b" + "Z" * 140
TRIGGER = "evt:app#m1"
CATALOGUE = {
    "app_cart": templating.TemplateSpec(
        push=PushSpec(
            title="{{ greeting }}",
            body="{{ cart|length }} items wait in your cart",
            deep_link="shop://cart",
            image_url="https://img.shop.example/cart.png",
            badge=1,
            data={"campaign": "cart"},
        )
    )
}
SCENARIO = sc.Scenario.model_validate(
    {
        "id": "app_cart",
        "name": "App cart",
        "when": {"type": "event", "event": "Product Added"},
        "steps": [{"type": "send", "id": "push_1", "channel": "push", "template": "app_cart"}],
        "marketing": True,
        "holdout_percent": 0,
    }
)


def device(platform: str, *, enabled: bool | None = True, at: float = 100.0, removed_at: float = 0.0) -> dict[str, Any]:
    return {"platform": platform, "app": "com.shop.app", "at": at, "enabled": enabled, "removed_at": removed_at}


def app_user(**devices: dict[str, Any]) -> dict[str, Any]:
    return {
        "profile_id": "p_1",
        "traits": {"firstName": "Hana"},
        "consent": {"push": {"status": "opted_in", "at": "2026-01-01T00:00:00Z"}},
        "devices": devices or {APNS: device("ios"), FCM: device("android")},
    }


@dataclass
class World:
    service: DeliveryService
    clock: FakeClock
    runs: FakeRunStore
    messages: FakeMessageStore
    push: FakePushSender
    tokens: FakePushTokens
    skipped: list[dict[str, Any]]

    def start(self, trigger: str = TRIGGER) -> None:
        now = self.clock.now()
        run = ScenarioRun(
            scenario_id=SCENARIO.id, profile_id="p_1", trigger_id=trigger, step_index=0, due_at=now, entered_at=now
        )
        assert self.runs.create(run)

    def step(self, trigger: str = TRIGGER) -> None:
        self.service.execute(step_message("p_1", trigger, 0))

    def record(self, trigger: str = TRIGGER) -> dict[str, Any]:
        record = self.messages.get("p_1", trigger, 0)
        assert record is not None
        return dict(record)


def build(profile: dict[str, Any], config: DeliveryConfig | None = None, pacer: SendPacer | None = None) -> World:
    clock = FakeClock(NOW)
    messages, runs, push, tokens = FakeMessageStore(), FakeRunStore(), FakePushSender(), FakePushTokens()
    skipped: list[dict[str, Any]] = []
    service = DeliveryService(
        runs=runs,
        messages=messages,
        due=FakeDueStore(),
        queue=FakeStepQueue(),
        profiles=cast(Any, FakeProfiles(profile)),
        events=cast(Any, FakeEvents()),
        email=FakeEmail(),
        notifier=FakeNotifier(),
        webhook=FakeWebhook(),
        related=None,
        clock=clock,
        links=LinkSettings("https://shop.example", "u@shop.example", keyring=lambda: RING, signing_key=lambda: "k"),
        scenarios=[SCENARIO],
        config=config,
        renderer=lambda *a, **k: templating.render(*a, catalogue=CATALOGUE, **k),
        on_skipped=lambda record: skipped.append(dict(record)),
        pacer=pacer,
        push=push,
        push_tokens=tokens,
    )
    return World(service, clock, runs, messages, push, tokens, skipped)


def test_a_push_step_goes_once_to_each_permitted_device_with_each_platforms_payload() -> None:
    world = build(app_user())
    world.start()
    world.step()
    assert sorted((token, platform) for token, platform, _, _ in world.push.sent) == [(APNS, "ios"), (FCM, "android")]
    _, _, push, message_id = world.push.sent[0]
    assert push.title == "Hi Hana," and push.body == "0 items wait in your cart" and push.deep_link == "shop://cart"
    record = world.record()
    assert record["status"] == "sent" and record["channel"] == "push" and record["message_id"] == message_id
    assert [s["channel"] for s in world.messages.sends_since("p_1", NOW - timedelta(days=1))] == ["push"]
    # A redelivered step (SQS at-least-once) sends nothing more
    world.step()
    assert len(world.push.sent) == 2


def test_marketing_push_needs_the_apps_permission_and_a_live_device() -> None:
    no_permission = app_user(**{APNS: device("ios", enabled=None)})
    no_permission["consent"] = {}
    world = build(no_permission)
    world.start()
    world.step()
    assert world.push.sent == [] and world.record()["reason"] == "no_consent"

    unregistered = build(app_user(**{APNS: device("ios", removed_at=200.0)}))
    unregistered.start()
    unregistered.step()
    assert unregistered.push.sent == [] and unregistered.record()["reason"] == "no_address"


def test_a_device_without_permission_is_left_out_while_the_others_get_it() -> None:
    world = build(app_user(**{APNS: device("ios"), FCM: device("android", enabled=False)}))
    world.start()
    world.step()
    assert [token for token, *_ in world.push.sent] == [APNS]


def test_quiet_hours_defer_a_marketing_push_and_caps_skip_it() -> None:
    quiet = default_delivery_config().model_copy(
        update={"quiet_hours": QuietHours(start="09:00", end="12:00", channels=["push"])}
    )
    world = build(app_user(), config=quiet)
    world.start()
    world.step()
    assert world.push.sent == [] and world.record()["status"] == "deferred"

    capped = default_delivery_config().model_copy(update={"caps": {"push": FrequencyCap(per_day=1)}})
    world = build(app_user(), config=capped)
    world.start("evt:app#a")
    world.step("evt:app#a")
    world.start("evt:app#b")
    world.step("evt:app#b")
    assert len(world.push.sent) == 2  # the first message, on both devices
    assert world.record("evt:app#b")["reason"] == "cap_day"


def test_a_disabled_endpoint_retires_the_token_and_the_send_is_skipped_with_the_reason() -> None:
    world = build(app_user(**{APNS: device("ios")}))
    world.push.disabled.add(APNS)
    world.start()
    world.step()
    record = world.record()
    assert record["status"] == "skipped" and record["reason"] == "endpoint_disabled"
    assert world.tokens.retired([APNS]) == {APNS} and world.push.forgotten == [APNS]
    assert [r["reason"] for r in world.skipped] == ["endpoint_disabled"]
    # The retired token is never tried again
    world.push.disabled.clear()
    world.start("evt:app#2")
    world.step("evt:app#2")
    assert world.push.sent == [] and world.record("evt:app#2")["reason"] == "suppressed"


def test_one_disabled_device_of_two_is_retired_and_the_other_still_gets_the_message() -> None:
    world = build(app_user(**{APNS: device("ios"), APNS_OLD: device("ios", at=50.0)}))
    world.push.disabled.add(APNS_OLD)
    world.start()
    world.step()
    assert [token for token, *_ in world.push.sent] == [APNS]
    assert world.record()["status"] == "sent" and world.tokens.retired([APNS, APNS_OLD]) == {APNS_OLD}


def test_throttled_before_any_device_is_retried_whole_and_sent_once() -> None:
    world = build(app_user())
    world.push.failures.append(ProviderRejected("Throttling", "slow down", retryable=True))
    world.start()
    with pytest.raises(RetryLater):
        world.step()
    assert world.record()["status"] == "retry" and world.push.sent == []
    world.step()
    assert len(world.push.sent) == 2 and world.record()["status"] == "sent"


class Crash(BaseException):
    """The Lambda killed mid-call (nothing in the app may catch it)."""


@pytest.mark.parametrize("crash_after_devices", [0, 1])
def test_a_crash_between_the_record_and_the_publishes_never_sends_twice(crash_after_devices: int) -> None:
    world = build(app_user())
    world.push.failures.extend([None] * crash_after_devices + [Crash()])
    world.start()
    with pytest.raises(Crash):
        world.step()
    sent_before = len(world.push.sent)
    for _ in range(3):  # the queue redelivers the step, more than once
        world.step()
    assert len(world.push.sent) == sent_before == crash_after_devices
    assert world.record()["status"] == "sending"  # the sweep reports it `unknown` for an operator


def test_an_unknown_outcome_on_the_first_device_is_never_resent() -> None:
    world = build(app_user())
    world.push.failures.append(ProviderOutcomeUnknown("read timeout"))
    world.start()
    world.step()
    world.step()
    assert world.push.sent == [] and world.record()["status"] == "unknown"


def test_push_takes_one_sending_slot_per_device_and_waits_when_the_window_is_full() -> None:
    rate = default_delivery_config().model_copy(
        update={"sending_rate": {"push": ChannelRate(max_send_rate=3.0, marketing_share=1.0)}}
    )
    counter = FakeSendRateCounter()
    world = build(app_user(), config=rate)
    pacer = SendPacer(counter, world.clock, lambda: rate)
    world.service.pacer = pacer
    world.start("evt:app#a")
    world.step("evt:app#a")  # two devices: two of the three slots
    world.start("evt:app#b")
    world.step("evt:app#b")  # one slot left, two needed: back to the queue with a delay, nothing written
    assert world.service.last_stats.paced == 1
    assert len(world.push.sent) == 2 and world.messages.get("p_1", "evt:app#b", 0) is None
    assert sum(counter.counts.values()) <= 3  # never more publishes in a window than the configured rate


def test_a_push_rendered_over_the_platform_limit_fails_that_message_only() -> None:
    long = {"app_cart": templating.TemplateSpec(push=PushSpec(body="{{ traits.essay }}"))}
    profile = app_user()
    profile["traits"] = {"essay": "x" * 5000}
    world = build(profile)
    world.service._renderer = lambda *a, **k: templating.render(*a, catalogue=long, **k)
    world.start()
    world.step()
    assert world.push.sent == [] and world.record()["reason"] == "payload_too_large"
    assert json.loads(json.dumps(world.record()))  # the record stays plain JSON


def test_a_fault_while_registering_endpoints_leaves_no_record_and_the_retry_sends_once() -> None:
    world = build(app_user())
    world.push.endpoint_failures.append(ProviderRejected("Throttling", "slow down", retryable=True))
    world.start()
    with pytest.raises(RetryLater):
        world.step()
    assert world.messages.get("p_1", TRIGGER, 0) is None and world.push.sent == []
    world.step()
    assert len(world.push.sent) == 2 and world.record()["status"] == "sent"


def test_a_device_sns_refuses_to_register_is_left_out() -> None:
    world = build(app_user())
    world.push.endpoint_failures.append(ProviderRejected("InvalidParameter", "bad token", retryable=False))
    world.start()
    world.step()
    assert len(world.push.sent) == 1 and world.record()["status"] == "sent"


def test_a_burst_of_pushes_is_held_under_the_configured_sns_rate_and_all_are_sent_once() -> None:
    # GIVEN push limited to 20 publishes/s (16 for marketing), no caps, and 150 messages to a person with 2 devices
    config = default_delivery_config().model_copy(
        update={"caps": {}, "sending_rate": {"push": ChannelRate(max_send_rate=20.0, marketing_share=0.8)}}
    )
    world = build(app_user(), config=config)
    world.service.pacer = SendPacer(FakeSendRateCounter(), world.clock, lambda: config, take_ahead=4)
    sent_at: list[float] = []
    send = world.push.send

    def timed_send(device: dict[str, Any], push: Any, message_id: str) -> str:
        sent_at.append(world.clock.now().timestamp())
        return send(device, push, message_id)

    world.push.send = timed_send  # type: ignore[method-assign]
    pending = [f"evt:app#{n}" for n in range(150)]
    for trigger in pending:
        world.start(trigger)
    # WHEN the queue delivers them as fast as it can (5 ms per step), paced ones coming back later
    while pending:
        trigger = pending.pop(0)
        paced_before = world.service.last_stats.paced
        world.step(trigger)
        if world.service.last_stats.paced > paced_before:
            pending.append(trigger)
        world.clock.advance(timedelta(milliseconds=5))
    # THEN no second ever carried more publishes than the marketing limit, and every message went out once
    per_second = Counter(int(t) for t in sent_at)
    assert max(per_second.values()) <= 16
    assert len(sent_at) == 300 and len({message_id for *_, message_id in world.push.sent}) == 150
    print(f"\npush rate: 300 publishes, max {max(per_second.values())}/s for a 16/s marketing limit")
