"""Sending-rate arithmetic and cap windows: pure functions, no clock but the instants given."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from chalicelib.delivery.guards import DeliveryConfig, cap_window_starts, count_sends
from chalicelib.delivery.rate import grant, plan_window, retry_delay

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("rate", "share", "seconds", "limit", "marketing"),
    [
        (14, 0.8, 1, 14, 11),  # 11.2 rounds down: never above the share
        (10, 0.7, 1, 10, 7),  # 6.999999999999999 in floats is still 7
        (1, 0.8, 2, 2, 1),  # the SES sandbox: one marketing email per 2 s, two sends in all
        (0.5, 1.0, 2, 1, 1),
        (20, 1.0, 1, 20, 20),
        (200, 0.8, 1, 200, 160),
    ],
)
def test_window_plan_never_exceeds_the_rate_or_the_marketing_share(
    rate: float, share: float, seconds: int, limit: int, marketing: int
) -> None:
    plan = plan_window(rate, share)
    assert (plan.seconds, plan.limit, plan.marketing_limit) == (seconds, limit, marketing)
    assert plan.limit <= rate * plan.seconds + 1e-9
    assert plan.marketing_limit <= max(1, rate * share * plan.seconds + 1e-9)
    assert plan.limit_for(marketing=False) == limit and plan.limit_for(marketing=True) == marketing


def test_windows_are_named_by_their_first_second_and_know_when_the_next_opens() -> None:
    plan = plan_window(1, 0.8)  # 2 s windows
    assert plan.start(1001.5) == 1000 and plan.start(1002.0) == 1002
    assert plan.seconds_left(1001.5) == pytest.approx(0.5)


def test_plan_refuses_a_rate_of_zero_or_a_share_outside_0_1() -> None:
    for rate, share in ((0, 0.8), (14, 0), (14, 1.5)):
        with pytest.raises(ValueError):
            plan_window(rate, share)


@pytest.mark.parametrize(
    ("used", "want", "limit", "granted"), [(0, 1, 14, 1), (13, 4, 14, 1), (14, 1, 14, 0), (20, 1, 14, 0), (0, 5, 3, 3)]
)
def test_a_grant_is_what_is_left_of_the_window_and_never_more(used: int, want: int, limit: int, granted: int) -> None:
    assert grant(used, want, limit) == granted


def test_retry_delay_waits_for_the_next_window_then_backs_off_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    assert retry_delay(0.2, 0, 300, rng) in (1, 2)  # SQS delays are whole seconds: at least 1
    assert retry_delay(1.5, 0, 300, rng) >= 2  # never before the next window
    delays = [retry_delay(0.1, 10, 300, rng) for _ in range(200)]
    assert max(delays) <= 300 and min(delays) >= 1 and len(set(delays)) > 50  # spread, capped
    assert all(retry_delay(0.1, 40, 60, rng) <= 60 for _ in range(50))


# -- cap windows ------------------------------------------------------------------------------------------------------

CALENDAR = DeliveryConfig()
ROLLING = DeliveryConfig(cap_window="rolling")


def log(at: str, channel: str = "email", topic: str | None = None, marketing: bool = True) -> dict[str, object]:
    entry: dict[str, object] = {"sk": f"log#{at}#m", "channel": channel, "marketing": marketing}
    if topic:
        entry["topic"] = topic
    return entry


def test_calendar_day_and_week_start_at_the_recipients_local_midnight() -> None:
    now = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)  # Wednesday 12:00 in Tokyo
    day, week = cap_window_starts(now, TOKYO, CALENDAR)
    assert day == datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # Wednesday 00:00 Tokyo
    assert week == datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # Monday 00:00 Tokyo
    _, sunday_week = cap_window_starts(now, TOKYO, DeliveryConfig(week_starts_on="sunday"))
    assert sunday_week == datetime(2026, 2, 28, 15, 0, tzinfo=UTC)


def test_calendar_midnight_follows_daylight_saving_time() -> None:
    # 2026-03-08 is the spring-forward Sunday in New York: midnight is still EST (UTC-5), the next day's is EDT (-4)
    assert cap_window_starts(datetime(2026, 3, 8, 12, tzinfo=UTC), NEW_YORK, CALENDAR)[0] == datetime(
        2026, 3, 8, 5, tzinfo=UTC
    )
    assert cap_window_starts(datetime(2026, 3, 9, 12, tzinfo=UTC), NEW_YORK, CALENDAR)[0] == datetime(
        2026, 3, 9, 4, tzinfo=UTC
    )


def test_rolling_windows_are_the_last_24_hours_and_7_days() -> None:
    now = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)
    assert cap_window_starts(now, TOKYO, ROLLING) == (
        datetime(2026, 3, 3, 3, 0, tzinfo=UTC),
        datetime(2026, 2, 25, 3, 0, tzinfo=UTC),
    )


def test_an_email_last_night_counts_today_when_rolling_but_not_on_the_calendar() -> None:
    # GIVEN an email at 23:00 Tokyo on Tuesday, and now Wednesday 09:00 Tokyo
    sends = [log("2026-03-03T14:00:00.000Z")]
    now = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)
    # THEN the calendar day is a new day, the rolling 24 h still holds it; both count it this week
    calendar = count_sends(sends, "email", None, now, TOKYO, CALENDAR)
    rolling = count_sends(sends, "email", None, now, TOKYO, ROLLING)
    assert (calendar["sent_today"], calendar["sent_this_week"]) == (0, 1)
    assert (rolling["sent_today"], rolling["sent_this_week"]) == (1, 1)


def test_counts_take_marketing_sends_of_the_channel_and_the_topic_across_scenarios() -> None:
    now = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)
    sends = [
        log("2026-03-04T01:00:00.000Z", topic="promotions"),  # today, a broadcast
        log("2026-03-02T01:00:00.000Z", topic="promotions"),  # Monday, a scenario of the same topic
        log("2026-03-04T02:00:00.000Z", topic="cart_reminders"),
        log("2026-03-04T02:30:00.000Z", marketing=False),  # a receipt: never counted
        log("2026-03-04T02:40:00.000Z", channel="sms", topic="promotions"),
        log("2026-02-27T01:00:00.000Z", topic="promotions"),  # last week
    ]
    assert count_sends(sends, "email", "promotions", now, TOKYO, CALENDAR) == {
        "sent_today": 2,
        "sent_this_week": 3,
        "topic_sent_today": 1,
        "topic_sent_this_week": 2,
    }
    assert count_sends(sends, "sms", "promotions", now, TOKYO, CALENDAR)["topic_sent_today"] == 1
