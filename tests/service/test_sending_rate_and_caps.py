"""The shared sending rate and the caps across scenarios, on the real send path with in-memory fakes.

GIVEN/WHEN/THEN in each test; the clock is a FakeClock the tests move, the counter the contract-tested fake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from chalicelib.delivery.guards import DeliveryConfig, load_delivery_config
from chalicelib.delivery.pacing import FALLBACK_EMAIL_RATE, SendPacer
from chalicelib.delivery.steps import DeliveryService, step_message
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
    FakeRunStore,
    FakeSendQuota,
    FakeSendRateCounter,
    FakeStepQueue,
    FakeWebhook,
)
from tests.service.test_delivery_steps import BASE, RING, consenting, render

NOW = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)  # Wednesday 10:00 in Tokyo (the packaged default zone)


def scenario(sid: str, *, topic: str | None = "promotions", marketing: bool = True, sends: int = 1) -> sc.Scenario:
    steps: list[dict[str, Any]] = [
        {"type": "send", "id": f"s{n}", "channel": "email", "template": "cart_reminder"} for n in range(sends)
    ]
    return sc.Scenario.model_validate(
        {
            "id": sid,
            "name": sid,
            "when": {"type": "event", "event": "Product Added"},
            "steps": steps,
            "marketing": marketing,
            "topic": topic,
            "holdout_percent": 0,
        }
    )


class Desk:
    """A delivery service over fakes, with helpers to start runs and execute their queue messages."""

    def __init__(self, scenarios: list[sc.Scenario], config: DeliveryConfig, *, pacer: bool = True) -> None:
        self.clock = FakeClock(NOW)
        self.runs, self.messages, self.queue = FakeRunStore(), FakeMessageStore(), FakeStepQueue()
        self.email = FakeEmail(clock=self.clock, max_send_rate=14)
        self.counter, self.quota = FakeSendRateCounter(), FakeSendQuota(rate=14.0)
        self.profiles = FakeProfiles()
        self.pacer = SendPacer(self.counter, self.clock, lambda: config, self.quota) if pacer else None
        self.service = DeliveryService(
            runs=self.runs,
            messages=self.messages,
            due=FakeDueStore(),
            queue=self.queue,
            profiles=cast(Any, self.profiles),
            events=cast(Any, FakeEvents()),
            email=self.email,
            notifier=FakeNotifier(),
            webhook=FakeWebhook(),
            related=None,
            clock=self.clock,
            links=LinkSettings(BASE, "u@shop.example", keyring=lambda: RING, signing_key=lambda: "coupon-key"),
            scenarios=scenarios,
            config=config,
            renderer=render,
            pacer=self.pacer,
        )

    def start(self, scenario_id: str, profile_id: str, trigger: str = "t1") -> dict[str, Any]:
        if self.profiles.get(profile_id) is None:
            self.profiles.add(consenting(profile_id, f"{profile_id}@example.com"))
        now = self.clock.now()
        run = ScenarioRun(
            scenario_id=scenario_id, profile_id=profile_id, trigger_id=trigger, step_index=0, due_at=now, entered_at=now
        )
        assert self.runs.create(run)
        return step_message(profile_id, trigger, 0)


def packaged(**changes: Any) -> DeliveryConfig:
    """The packaged delivery.json with some settings changed (validated like the file)."""
    return DeliveryConfig.model_validate({**load_delivery_config().model_dump(mode="json", by_alias=True), **changes})


# -- the sending rate -------------------------------------------------------------------------------------------------


def test_marketing_beyond_its_share_of_the_second_goes_back_to_the_queue_before_anything_is_written() -> None:
    # GIVEN an SES account at 14/s (11 of them for marketing) and 15 people due now
    desk = Desk([scenario("promo")], packaged())
    steps = [desk.start("promo", f"p{n}") for n in range(15)]
    # WHEN all 15 steps execute within the same second
    for message in steps:
        desk.service.execute(message)
    # THEN 11 went out, 4 are back on the queue with a delay and their attempt, channel and kind, and no record
    assert len(desk.email.sent) == 11 and desk.email.throttled == 0
    paced = desk.queue.sent
    assert len(paced) == 4 and all(delay >= 1 for _, delay in paced)
    assert all(m["w"] == 1 and m["c"] == "email" and m["k"] == 1 for m, _ in paced)
    assert all(desk.messages.get(m["p"], m["t"], 0) is None for m, _ in paced)
    assert desk.service.last_stats.paced == 4
    # WHEN the paced steps come back in a later second
    desk.clock.advance(timedelta(seconds=2))
    for message in desk.queue.take():
        desk.service.execute(message)
    # THEN everyone got exactly one email: nothing lost, nothing twice
    assert sorted(e.to for e in desk.email.sent) == sorted(f"p{n}@example.com" for n in range(15))


def test_transactional_mail_takes_the_rest_of_a_second_marketing_has_filled() -> None:
    # GIVEN marketing has used its 11 slots of this second
    desk = Desk([scenario("promo"), scenario("receipt", topic=None, marketing=False)], packaged())
    for n in range(11):
        desk.service.execute(desk.start("promo", f"m{n}"))
    # WHEN receipts are due in the same second
    for n in range(4):
        desk.service.execute(desk.start("receipt", f"r{n}"))
    # THEN three go now (14 in all, the account's rate) and the fourth waits for the next second
    assert len(desk.email.sent) == 14 and desk.email.throttled == 0
    assert [m["p"] for m, _ in desk.queue.sent] == ["r3"] and desk.queue.sent[0][0]["k"] == 0


def test_a_container_that_found_the_window_full_sends_a_paced_step_back_without_reading_anything() -> None:
    desk = Desk([scenario("promo")], packaged())
    for n in range(12):
        desk.service.execute(desk.start("promo", f"p{n}"))
    [(again, _)] = desk.queue.sent
    desk.queue.take()
    writes = desk.counter.writes
    desk.runs.runs.clear()  # any read of the run would now find nothing and drop the step
    desk.service.execute(again)
    assert desk.counter.writes == writes and [m["w"] for m, _ in desk.queue.sent] == [2]


def test_the_account_rate_is_read_once_per_cache_period_and_a_configured_rate_only_lowers_it() -> None:
    config = packaged()
    clock = FakeClock(NOW)
    quota = FakeSendQuota(rate=50.0)
    pacer = SendPacer(FakeSendRateCounter(), clock, lambda: config, quota)
    assert [pacer.rate("email") for _ in range(3)] == [50.0, 50.0, 50.0] and quota.reads == 1
    clock.advance(timedelta(seconds=config.account_rate_cache_seconds))
    quota.rate = 80.0
    assert pacer.rate("email") == 80.0 and quota.reads == 2
    lowered = packaged(sending_rate={"email": {"max_send_rate": 10}, "sms": {"max_send_rate": 20}})
    assert SendPacer(FakeSendRateCounter(), clock, lambda: lowered, FakeSendQuota(rate=50)).rate("email") == 10
    assert SendPacer(FakeSendRateCounter(), clock, lambda: lowered, FakeSendQuota(rate=5)).rate("email") == 5
    assert pacer.rate("sms") == 20.0  # SNS has no figure to read: the configured rate
    assert pacer.rate("webhook") is None  # internal channels are not limited


def test_an_unreadable_account_rate_falls_back_to_the_sandbox_rate() -> None:
    class Broken:
        def max_send_rate(self) -> float | None:
            raise RuntimeError("AccessDenied")

    pacer = SendPacer(FakeSendRateCounter(), FakeClock(NOW), packaged, Broken())
    assert pacer.rate("email") == FALLBACK_EMAIL_RATE


def test_a_batch_take_spends_its_slots_in_the_same_window_only() -> None:
    clock = FakeClock(NOW)
    counter = FakeSendRateCounter()
    pacer = SendPacer(counter, clock, packaged, FakeSendQuota(rate=14.0), take_ahead=4)
    for _ in range(4):
        pacer.acquire("email", marketing=True)
    assert counter.writes == 1 and counter.counts[("email", int(NOW.timestamp()))] == 4
    clock.advance(timedelta(seconds=1))
    pacer.acquire("email", marketing=True)  # a new window: the slots of the last one are not carried over
    assert counter.writes == 2


# -- caps across scenarios and broadcasts -----------------------------------------------------------------------------


def test_topic_caps_count_every_scenario_and_broadcast_of_the_topic_and_a_capped_person_moves_on() -> None:
    # GIVEN at most 1 promotions email a day, and a journey that sends twice in a row
    config = packaged(topic_caps={"promotions": {"email": {"per_day": 1}}})
    desk = Desk([scenario("broadcast"), scenario("journey", sends=2)], config, pacer=False)
    # WHEN the broadcast reached the person this morning, then the journey starts
    desk.service.execute(desk.start("broadcast", "p1", trigger="b1"))
    desk.clock.advance(timedelta(hours=1))
    desk.service.execute(desk.start("journey", "p1", trigger="j1"))
    # THEN both journey sends are skipped as topic-capped, recorded, and the run went on to its end
    records = [r for r in desk.messages.for_profile("p1") if r["trigger_id"] == "j1"]
    assert [(r["status"], r["reason"]) for r in records] == [("skipped", "cap_topic_day")] * 2
    run = desk.runs.get("p1", "j1")
    assert run is not None and run.status != "active"
    assert len(desk.email.sent) == 1


def test_a_calendar_day_cap_opens_again_at_local_midnight_but_a_rolling_one_does_not() -> None:
    def second_email_after_midnight(window: str) -> str | None:
        config = packaged(cap_window=window, caps={"email": {"per_day": 1}})
        desk = Desk([scenario("a"), scenario("b")], config, pacer=False)
        desk.clock.set(datetime(2026, 3, 4, 11, 0, tzinfo=UTC))  # 20:00 Tokyo
        desk.service.execute(desk.start("a", "p1", trigger="a1"))
        desk.clock.set(datetime(2026, 3, 4, 23, 30, tzinfo=UTC))  # 08:30 Tokyo the next day
        desk.service.execute(desk.start("b", "p1", trigger="b1"))
        record = desk.messages.get("p1", "b1", 0)
        assert record is not None
        return record.get("reason")

    assert second_email_after_midnight("calendar") is None  # a new local day
    assert second_email_after_midnight("rolling") == "cap_day"  # 12.5 hours ago is within 24 h


def test_transactional_mail_is_never_capped() -> None:
    config = packaged(caps={"email": {"per_day": 0}})
    desk = Desk([scenario("receipt", topic=None, marketing=False)], config, pacer=False)
    desk.service.execute(desk.start("receipt", "p1"))
    assert len(desk.email.sent) == 1
