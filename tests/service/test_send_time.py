"""Send-time optimisation on the delivery service (in-memory fakes, injectable clock): a send deferred to the
person's best hour and sent then exactly once, the control arm sent at once, guards still winning, and the report
rows per arm."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from chalicelib.api.admin_reports import scenario_report
from chalicelib.delivery.send_time import CONTROL, OPTIMISED, arm_for
from chalicelib.delivery.steps import DeliveryService, step_message
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

NOW = datetime(2026, 3, 2, 1, 10, tzinfo=UTC)  # 10:10 in Tokyo (the packaged default zone): outside quiet hours
BASE = "https://shop.example"
RING = lt.Keyring({"k1": b"k1-secret-0123456789abcdef-32byt"}, current="k1")
SCENARIO = sc.Scenario.model_validate(
    {
        "id": "thanks_test",
        "name": "Thanks",
        "when": {"type": "stage_changed", "to": "loyal"},
        "steps": [
            {
                "type": "send",
                "id": "thanks",
                "channel": "email",
                "template": "loyal_thanks",
                "send_time": {"within": "24h", "fallback_hour": 10, "min_events": 3, "control_share": 0.5},
            }
        ],
        "marketing": True,
    }
)


def trigger_in(arm: str, profile_id: str) -> str:
    """A trigger id whose run falls in `arm` (the arm is a stable hash of scenario and run)."""
    return next(f"t{n}" for n in range(100) if arm_for(SCENARIO.id, f"{profile_id}#t{n}", 0.5) == arm)


def person(profile_id: str, hours: dict[int, float] | None = None) -> dict[str, Any]:
    weights = [0.0] * 24
    for hour, weight in (hours or {}).items():
        weights[hour] = weight
    return {
        "profile_id": profile_id,
        "email": f"{profile_id}@example.com",
        "consent": {"email": {"status": "opted_in", "at": "2026-01-01T00:00:00Z"}},
        "engagement_hours": {"email": {"zone": "Asia/Tokyo", "at": NOW.timestamp(), "hours": weights}},
    }


@dataclass
class Rendered:
    subject: str
    html: str
    text: str
    sms: str | None = None


def render(template: str, profile: dict[str, Any], extra: dict[str, Any], **_: Any) -> Rendered:
    return Rendered(subject="Thank you", html=f'<a href="{BASE}/p/1">shop</a>', text="Thank you")


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
    engagement: EngagementService
    store: FakeEngagementStore

    def start(self, profile_id: str, trigger_id: str) -> None:
        now = self.clock.now()
        run = ScenarioRun(
            scenario_id=SCENARIO.id, profile_id=profile_id, trigger_id=trigger_id, due_at=now, entered_at=now
        )
        assert self.runs.create(run)
        self.service.execute(step_message(profile_id, trigger_id, 0))

    def release(self) -> None:
        """The minute reader and the queue consumer: everything due by now is executed."""
        self.service.release_due()
        for message in self.queue.take():
            self.service.execute(message)

    def record(self, profile_id: str, trigger_id: str) -> dict[str, Any]:
        record = self.messages.get(profile_id, trigger_id, 0)
        assert record is not None
        return dict(record)


@pytest.fixture
def world() -> World:
    clock = FakeClock(NOW)
    messages, store = FakeMessageStore(), FakeEngagementStore()
    store.messages = messages
    engagement = EngagementService(
        store=store, messages=messages, events=FakeEvents(), clock=clock, keyring=lambda: RING
    )
    runs, due, queue, email, profiles = FakeRunStore(), FakeDueStore(), FakeStepQueue(), FakeEmail(), FakeProfiles()
    service = DeliveryService(
        runs=runs,
        messages=messages,
        due=due,
        queue=queue,
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
        on_sent=engagement.message_sent,
    )
    due.set_cursor(NOW)
    return World(service, clock, runs, messages, due, queue, profiles, email, engagement, store)


def test_an_optimised_send_waits_for_the_best_hour_and_is_sent_then_exactly_once(world: World) -> None:
    # GIVEN a person who reads at 19:00 Tokyo time, in the optimised arm
    world.profiles.add(person("p_a", {19: 5.0, 8: 1.0}))
    trigger = trigger_in(OPTIMISED, "p_a")
    # WHEN the send step comes due at 10:10 Tokyo time
    world.start("p_a", trigger)
    # THEN nothing is sent yet: the message waits in the due store for 19:00 Tokyo (10:00 UTC)
    best = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    record = world.record("p_a", trigger)
    assert world.email.sent == []
    assert (record["status"], record["reason"], record["sto"]) == ("deferred", "send_time", OPTIMISED)
    assert record["until"] == record["sto_until"] == "2026-03-02T10:00:00.000Z"
    assert world.runs.get("p_a", trigger).due_at == best  # type: ignore[union-attr]
    # AND an hour before, the minute reader finds nothing to send
    world.clock.advance(best - NOW - timedelta(hours=1))
    world.release()
    assert world.email.sent == []
    # WHEN the best hour comes, even though the person's history now points at another hour
    world.profiles.add(person("p_a", {20: 50.0}))
    world.clock.advance(timedelta(hours=1))
    world.release()
    # THEN it is sent (never re-optimised: a deferral does not chase the best hour), once
    [mail] = world.email.sent
    assert mail.to == "p_a@example.com"
    record = world.record("p_a", trigger)
    assert record["status"] == "sent" and record["sto"] == OPTIMISED
    assert [h["status"] for h in record["history"]] == ["deferred", "sending", "sent"]
    # AND a duplicate of the due step (a replayed reader, a redelivered queue message) sends nothing more
    world.service.execute(step_message("p_a", trigger, 0))
    world.due.set_cursor(NOW)
    world.release()
    assert len(world.email.sent) == 1


def test_the_control_arm_is_sent_at_once(world: World) -> None:
    world.profiles.add(person("p_c", {19: 5.0}))
    trigger = trigger_in(CONTROL, "p_c")
    world.start("p_c", trigger)
    assert len(world.email.sent) == 1
    record = world.record("p_c", trigger)
    assert record["status"] == "sent" and record["sto"] == CONTROL and "sto_until" not in record


def test_with_too_little_history_the_send_goes_at_the_fallback_hour(world: World) -> None:
    world.profiles.add(person("p_new", {19: 1.0}))  # one engagement: fewer than min_events
    trigger = trigger_in(OPTIMISED, "p_new")
    world.clock.advance(timedelta(hours=3))  # 13:10 in Tokyo: 10:00 has passed today
    world.start("p_new", trigger)
    assert world.record("p_new", trigger)["until"] == "2026-03-03T01:00:00.000Z"  # 10:00 Tokyo tomorrow


def test_the_best_hour_is_never_inside_quiet_hours(world: World) -> None:
    # GIVEN a night owl: most opens at 23:00, inside the 21:00-08:00 quiet hours, a few at 18:00
    world.profiles.add(person("p_owl", {23: 9.0, 18: 2.0}))
    trigger = trigger_in(OPTIMISED, "p_owl")
    world.start("p_owl", trigger)
    # THEN the deferral aims at the best hour quiet hours allow
    assert world.record("p_owl", trigger)["until"] == "2026-03-02T09:00:00.000Z"  # 18:00 Tokyo


def test_caps_still_win_when_the_deferred_send_comes_due(world: World) -> None:
    world.profiles.add(person("p_cap", {19: 5.0}))
    trigger = trigger_in(OPTIMISED, "p_cap")
    world.start("p_cap", trigger)
    # GIVEN the person got two other marketing mails meanwhile (the packaged cap is 2 a day)
    for n in range(2):
        world.messages.claim(
            {"profile_id": "p_cap", "trigger_id": f"other{n}", "step_index": 0, "status": "sending"}, NOW
        )
        world.messages.finish(
            "p_cap", f"other{n}", 0, "sent", NOW, log={"message_id": f"o{n}", "channel": "email", "cost": 0.0}
        )
    world.clock.advance(timedelta(hours=9))
    world.release()
    record = world.record("p_cap", trigger)
    assert world.email.sent == [] and record["status"] == "skipped" and record["reason"] == "cap_day"


def test_the_report_shows_human_opens_and_clicks_per_arm(world: World) -> None:
    # GIVEN one optimised and one control person, both sent
    world.profiles.add(person("p_a", {19: 5.0}))
    world.profiles.add(person("p_c", {19: 5.0}))
    optimised, control = trigger_in(OPTIMISED, "p_a"), trigger_in(CONTROL, "p_c")
    world.start("p_a", optimised)
    world.start("p_c", control)
    world.clock.advance(timedelta(hours=9))
    world.release()
    assert len(world.email.sent) == 2
    # WHEN the optimised mail is opened by a person (twice: counted once) and a scanner fetches the control's pixel
    by_profile = {mail.to.split("@")[0]: mail for mail in world.email.sent}
    world.clock.advance(timedelta(minutes=30))
    browser = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
    )
    for _ in range(2):
        world.engagement.record_open(open_token(by_profile["p_a"]), browser, "203.0.113.9")
    world.engagement.record_open(open_token(by_profile["p_c"]), "Barracuda Sentinel (EE)", "64.235.144.1")
    # THEN the scenario report has a row per arm, with rates over sent and the comparison
    report = scenario_report(SCENARIO.id, world.store.rows(SCENARIO.id))
    [row] = report["send_time"]
    assert (row["step"], row["channel"]) == ("thanks", "email")
    assert row["arms"][OPTIMISED] == {
        "sent": 1,
        "human_opens": 1,
        "clicks": 0,
        "human_open_rate": 1.0,
        "click_rate": 0.0,
    }
    assert row["arms"][CONTROL]["sent"] == 1 and row["arms"][CONTROL]["human_opens"] == 0
    metrics = {c["metric"]: c for c in row["comparisons"]}
    assert set(metrics) == {"human_opens / sent", "clicks / sent"}
    assert metrics["human_opens / sent"]["enough_data"] is False and 0 < metrics["human_opens / sent"]["p_value"] <= 1
    # AND the step rows still count every message once (the arm rows are beside them, not in the totals)
    [total] = report["totals"]
    assert total["counters"]["sent"] == 2


def open_token(mail: Any) -> str:
    import re

    match = re.search(rf'src="{BASE}/t/o/([^"]+)\.gif"', mail.html)
    assert match is not None
    return match.group(1)
