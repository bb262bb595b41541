"""Delivery guards: consent, suppression, caps, budget, quiet hours, trigger still holding, order of checks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.delivery import guards
from chalicelib.delivery.guards import (
    DeliveryConfig,
    QuietHours,
    SendContext,
    customer_budget,
    load_delivery_config,
    quiet_until,
    run_guards,
)
from chalicelib.scenarios.loader import parse_scenario
from chalicelib.tracking.events import TrackedEvent

# 12:00 UTC = 21:00 in Tokyo: inside the default quiet hours. 03:00 UTC = 12:00 Tokyo: daytime.
TOKYO_NOON = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
TOKYO_NINE_PM = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

CONFIG = DeliveryConfig.model_validate(
    {
        "default_timezone": "Asia/Tokyo",
        "currency": "JPY",
        "caps": {"email": {"per_day": 2, "per_week": 5}, "sms": {"per_day": 1}},
        "topic_caps": {"promotions": {"email": {"per_day": 1, "per_week": 2}}},
        "quiet_hours": {
            "start": "21:00",
            "end": "08:00",
            "channels": ["email", "sms"],
            "apply_to_transactional": ["sms"],
        },
        "costs": {"email": 1.0, "sms": 10.0},
        "budget": {"min_budget": 50, "ltv_share": 0.02},
    }
)


def profile(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "profile_id": "p1",
        "email": "ann@example.com",
        "phone": "+81 90 1234 5678",
        "traits": {"firstName": "Ann", "timezone": "Asia/Tokyo"},
        "consent": {"email": {"status": "opted_in"}, "sms": {"status": "opted_in"}},
        "computed": {"cart": [{"product_id": "1", "quantity": 1}]},
        "ltv": 10_000,
    }
    data.update(overrides)
    return data


def ctx(**overrides: Any) -> SendContext:
    base = SendContext(channel="email", marketing=True, profile=profile(), now=TOKYO_NOON)
    return replace(base, **overrides)


def test_everything_fine_is_allowed() -> None:
    assert run_guards(ctx(), CONFIG) == guards.ALLOW
    assert run_guards(ctx(channel="sms"), CONFIG).allowed


# ---------------------------------------------------------------------------------------------------------------------
# individual guards
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("consent", [None, {}, {"email": {"status": "opted_out"}}, {"email": {"status": "pending"}}])
def test_marketing_email_without_opt_in_is_skipped(consent: Any) -> None:
    decision = run_guards(ctx(profile=profile(consent=consent)), CONFIG)
    assert (decision.outcome, decision.reason) == ("skip", "no_consent")


def test_transactional_email_is_exempt_from_consent() -> None:
    assert run_guards(ctx(marketing=False, profile=profile(consent={})), CONFIG).allowed


def test_opted_out_preference_topic_blocks_marketing() -> None:
    p = profile(consent={"email": {"status": "opted_in"}, "topics": {"offers": {"status": "opted_out"}}})
    assert run_guards(ctx(profile=p, topic="offers"), CONFIG).reason == "no_consent"
    assert run_guards(ctx(profile=p, topic="onboarding"), CONFIG).allowed


def test_sms_consent_is_separate_from_email_consent() -> None:
    p = profile(consent={"email": {"status": "opted_in"}})
    assert run_guards(ctx(channel="sms", profile=p), CONFIG).reason == "no_consent"


def test_suppressed_address_is_skipped_even_for_transactional() -> None:
    assert run_guards(ctx(suppressed=True), CONFIG).reason == "suppressed"
    assert run_guards(ctx(suppressed=True, marketing=False), CONFIG).reason == "suppressed"


@pytest.mark.parametrize(
    ("channel", "overrides"),
    [
        ("email", {"email": None}),
        ("email", {"email": "not-an-address"}),
        ("sms", {"phone": None}),
        ("sms", {"phone": "12"}),
    ],
)
def test_missing_address_is_skipped(channel: str, overrides: dict[str, Any]) -> None:
    decision = run_guards(ctx(channel=channel, profile=profile(**overrides)), CONFIG)
    assert (decision.outcome, decision.reason) == ("skip", "no_address")


def test_email_in_traits_counts_as_address() -> None:
    assert run_guards(ctx(profile=profile(email=None, traits={"email": "Ann@Example.com"})), CONFIG).allowed


@pytest.mark.parametrize(
    ("today", "week", "reason"),
    [(1, 4, None), (2, 2, "cap_day"), (0, 5, "cap_week"), (5, 9, "cap_day")],
)
def test_frequency_caps_per_day_then_week(today: int, week: int, reason: str | None) -> None:
    assert run_guards(ctx(sent_today=today, sent_this_week=week), CONFIG).reason == reason


def test_caps_do_not_apply_to_transactional_or_uncapped_channels() -> None:
    assert run_guards(ctx(marketing=False, sent_today=99, sent_this_week=99), CONFIG).allowed
    assert run_guards(ctx(channel="sms", sent_today=0, sent_this_week=99), CONFIG).allowed  # sms has no weekly cap


def test_budget_is_max_of_minimum_and_share_of_customer_value() -> None:
    budget = CONFIG.budget
    assert budget is not None
    assert customer_budget(profile(ltv=10_000), budget) == 200  # 2% of 10,000
    assert customer_budget(profile(ltv=100), budget) == 50  # the floor
    assert customer_budget(profile(ltv=None, revenue=None, computed={"revenue": "5000"}), budget) == 100
    assert customer_budget({}, budget) == 50


def test_budget_allows_up_to_the_limit_and_skips_beyond() -> None:
    # GIVEN budget 200 and sms costing 10
    assert run_guards(ctx(channel="sms", spend_so_far=190), CONFIG).allowed
    decision = run_guards(ctx(channel="sms", spend_so_far=191), CONFIG)
    assert (decision.outcome, decision.reason) == ("skip", "budget")
    assert run_guards(ctx(channel="sms", spend_so_far=10_000, marketing=False, now=TOKYO_NOON), CONFIG).allowed


def test_quiet_hours_defer_to_eight_am_local_never_drop() -> None:
    # GIVEN 21:00 in Tokyo WHEN a marketing email is due THEN it waits until 08:00 Tokyo (= 23:00 UTC)
    decision = run_guards(ctx(now=TOKYO_NINE_PM), CONFIG)
    assert decision.outcome == "defer" and decision.reason == "quiet_hours"
    assert decision.until == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)


def test_quiet_hours_use_the_recipients_own_timezone() -> None:
    # 12:00 UTC is 21:00 in Tokyo but 12:00 in London
    london = profile(traits={"timezone": "Europe/London"})
    assert run_guards(ctx(now=TOKYO_NINE_PM, profile=london), CONFIG).allowed


@pytest.mark.parametrize("tz", [None, "", "Not/AZone", 42])
def test_unknown_timezone_falls_back_to_configured_default(tz: Any) -> None:
    p = profile(traits={"timezone": tz})
    decision = run_guards(ctx(now=TOKYO_NINE_PM, profile=p), CONFIG)
    assert decision.reason == "quiet_hours"  # judged in Asia/Tokyo


def test_transactional_email_ignores_quiet_hours_but_sms_does_not() -> None:
    assert run_guards(ctx(now=TOKYO_NINE_PM, marketing=False), CONFIG).allowed
    assert run_guards(ctx(now=TOKYO_NINE_PM, marketing=False, channel="sms"), CONFIG).reason == "quiet_hours"


def test_quiet_window_that_does_not_wrap_midnight() -> None:
    quiet = QuietHours(start=time(12, 0), end=time(13, 30))
    tz = ZoneInfo("UTC")
    assert quiet_until(datetime(2026, 1, 1, 12, 15, tzinfo=UTC), tz, quiet) == datetime(2026, 1, 1, 13, 30, tzinfo=UTC)
    assert quiet_until(datetime(2026, 1, 1, 13, 30, tzinfo=UTC), tz, quiet) is None
    assert quiet_until(datetime(2026, 1, 1, 11, 59, tzinfo=UTC), tz, quiet) is None


def test_quiet_hours_across_a_dst_change() -> None:
    # GIVEN New York, 2026-03-08 02:00 clocks jump to 03:00; quiet 21:00-02:30 (02:30 does not exist that night)
    quiet = QuietHours(start=time(21, 0), end=time(2, 30))
    tz = ZoneInfo("America/New_York")
    now = datetime(2026, 3, 8, 1, 0, tzinfo=tz).astimezone(UTC)
    until = quiet_until(now, tz, quiet)
    assert until is not None and until > now
    assert quiet_until(until, tz, quiet) is None


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
    tz_name=st.sampled_from(["Asia/Tokyo", "Europe/London", "America/New_York", "Australia/Lord_Howe", "UTC"]),
    start=st.times(),
    end=st.times(),
)
def test_quiet_hours_deferral_lands_outside_the_window_within_a_day(
    now: datetime, tz_name: str, start: time, end: time
) -> None:
    quiet = QuietHours(start=start.replace(microsecond=0), end=end.replace(microsecond=0))
    tz = ZoneInfo(tz_name)
    until = quiet_until(now, tz, quiet)
    if until is None:
        return
    assert now < until <= now + timedelta(hours=25)  # 25: a DST night is an hour longer
    assert quiet_until(until, tz, quiet) is None or until - now <= timedelta(minutes=1)


# ---------------------------------------------------------------------------------------------------------------------
# trigger still holds (exit conditions), holdout, internal channels
# ---------------------------------------------------------------------------------------------------------------------

CART = parse_scenario(
    {
        "id": "cart",
        "name": "Cart",
        "when": {"type": "event", "event": "Product Added"},
        "steps": [{"type": "send", "channel": "email", "template": "t"}],
        "exit": [
            {"event": "Order Completed"},
            {"profile": [{"field": "fact.cart_item_count", "op": "eq", "value": 0}]},
        ],
    }
)


def test_purchase_since_trigger_skips_the_reminder() -> None:
    bought = TrackedEvent(
        message_id="m9",
        source_id="web",
        type="track",
        profile_id="p1",
        event="Order Completed",
        timestamp=TOKYO_NOON - timedelta(minutes=5),
        received_at=TOKYO_NOON,
    )
    c = ctx(scenario=CART, events_since=(bought,), run_since=TOKYO_NOON - timedelta(hours=1))
    decision = run_guards(c, CONFIG)
    assert (decision.outcome, decision.reason, decision.detail) == (
        "skip",
        "trigger_no_longer_holds",
        "event:Order Completed",
    )


def test_emptied_cart_skips_the_reminder() -> None:
    c = ctx(scenario=CART, profile=profile(computed={"cart": []}))
    assert run_guards(c, CONFIG).reason == "trigger_no_longer_holds"
    assert run_guards(ctx(scenario=CART), CONFIG).allowed


def test_precomputed_exit_reason_is_honoured() -> None:
    assert run_guards(ctx(exit_reason="left_audience"), CONFIG).reason == "trigger_no_longer_holds"


def test_holdout_is_skipped_first() -> None:
    everything_wrong = ctx(holdout=True, suppressed=True, profile=profile(consent={}, email=None), now=TOKYO_NINE_PM)
    assert run_guards(everything_wrong, CONFIG).reason == "holdout"


def test_sales_alert_ignores_customer_guards() -> None:
    internal = ctx(channel="sales_alert", marketing=False, profile={}, suppressed=True, now=TOKYO_NINE_PM)
    assert run_guards(internal, CONFIG).allowed
    assert run_guards(replace(internal, holdout=True), CONFIG).reason == "holdout"


def test_guard_order_is_the_documented_one() -> None:
    # GIVEN a message that fails every customer guard but holdout
    c = ctx(
        scenario=CART,
        profile=profile(computed={"cart": []}, email=None, consent={}, ltv=0),
        suppressed=True,
        sent_today=9,
        sent_this_week=9,
        topic="promotions",
        topic_sent_today=9,
        topic_sent_this_week=9,
        spend_so_far=1e9,
        now=TOKYO_NINE_PM,
    )
    seen = []
    # WHEN the failing reasons are peeled off one by one
    fixes = [
        {"scenario": None},
        {"profile": profile(computed={"cart": []}, consent={}, ltv=0)},
        {"suppressed": False},
        {"profile": profile(computed={"cart": []}, ltv=0)},
        {"sent_today": 0},
        {"sent_this_week": 0},
        {"topic_sent_today": 0},
        {"topic_sent_this_week": 0},
        {"spend_so_far": 0},
    ]
    for fix in fixes:
        seen.append(run_guards(c, CONFIG).reason)
        c = replace(c, **fix)
    seen.append(run_guards(c, CONFIG).reason)
    # THEN they come in the documented order, ending with the only deferral
    assert seen == [
        "trigger_no_longer_holds",
        "no_address",
        "suppressed",
        "no_consent",
        "cap_day",
        "cap_week",
        "cap_topic_day",
        "cap_topic_week",
        "budget",
        "quiet_hours",
    ]
    # (an email fails no SMS-destination check: that reason has its own test below)
    assert set(seen) | {"holdout", guards.SMS_DESTINATION_REFUSED} == set(guards.REASON_CODES)


def test_send_context_for_takes_flags_from_scenario_step_and_run() -> None:
    from chalicelib.scenarios.engine import SendAction, plan_next, start_run

    scenario = parse_scenario(
        {
            "id": "welcome",
            "name": "W",
            "topic": "onboarding",
            "when": {"type": "event", "event": "Signed Up"},
            "steps": [{"type": "send", "channel": "email", "template": "t", "marketing": False}],
        }
    )
    run = start_run(scenario, profile(), "welcome:evt:web#m1", TOKYO_NOON)
    action = plan_next(scenario, 0, profile(), TOKYO_NOON)
    assert isinstance(action, SendAction)
    c = guards.send_context_for(scenario, run, action, profile(), TOKYO_NOON, sent_today=3, events_since=[])
    assert (c.channel, c.marketing, c.topic, c.holdout, c.sent_today) == ("email", False, "onboarding", False, 3)
    assert c.run_since == run.entered_at and c.scenario is scenario
    assert run_guards(c, CONFIG).allowed  # transactional override: no caps


# ---------------------------------------------------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------------------------------------------------


def test_packaged_delivery_config_is_valid() -> None:
    config = guards.default_delivery_config()
    assert config.quiet_hours is not None and config.quiet_hours.start == time(21, 0)
    assert config.caps["email"].per_day is not None
    assert config.budget is not None


@pytest.mark.parametrize(
    "bad",
    [
        {"default_timezone": "Nowhere/Special"},
        {"caps": {"fax": {"per_day": 1}}},
        {"costs": {"email": -1}},
        {"budget": {"min_budget": 1, "ltv_share": 2}},
        {"quiet_hours": {"start": "25:00"}},
        {"surprise": True},
    ],
)
def test_invalid_delivery_config_is_rejected(tmp_path: Path, bad: dict[str, Any]) -> None:
    path = tmp_path / "delivery.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ValidationError):
        load_delivery_config(path)


@pytest.mark.parametrize(
    ("phone", "allowed"),
    [
        ("+81 90 1234 5678", True),  # a Japanese mobile, Japan allowed
        ("+1 900 555 0123", False),  # US premium rate
        ("+33 6 12 34 56 78", False),  # a French mobile, France not in this allow-list
        ("12", False),  # not a number
    ],
)
def test_texts_go_only_to_allowed_countries_and_never_to_premium_ranges(phone: str, allowed: bool) -> None:
    config = guards.DeliveryConfig(sms_countries=["JP", "US"])
    decision = guards.check_address(ctx(profile=profile(phone=phone), channel="sms"), config)

    assert (decision.outcome == "allow") is allowed, decision
    if not allowed and phone != "12":
        assert decision.reason == guards.SMS_DESTINATION_REFUSED
