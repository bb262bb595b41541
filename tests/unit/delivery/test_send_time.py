"""Send-time optimisation, the pure part: the best local hour within a window, the arm, and the config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from chalicelib.delivery.send_time import CONTROL, OPTIMISED, arm_for, best_send_time, plan
from chalicelib.scenarios import definitions as sc

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")
DAY = timedelta(hours=24)


def hist(**weights: float) -> list[float]:
    """24 weights from keyword hours: hist(h19=5, h8=2)."""
    out = [0.0] * 24
    for name, weight in weights.items():
        out[int(name[1:])] = weight
    return out


def test_the_best_local_hour_later_today():
    now = datetime(2026, 3, 2, 1, 10, tzinfo=UTC)  # 10:10 in Tokyo
    best = best_send_time(hist(h19=5, h8=2), now, TOKYO, DAY, 10, 3)
    assert best == datetime(2026, 3, 2, 19, 0, tzinfo=TOKYO)


def test_the_current_hour_being_the_best_means_now():
    now = datetime(2026, 3, 2, 10, 40, tzinfo=UTC)  # 19:40 in Tokyo
    assert best_send_time(hist(h19=5, h8=2), now, TOKYO, DAY, 10, 3) == now


def test_a_best_hour_already_past_today_wraps_over_midnight_to_tomorrow():
    now = datetime(2026, 3, 2, 13, 30, tzinfo=UTC)  # 22:30 in Tokyo
    best = best_send_time(hist(h7=4, h19=1), now, TOKYO, DAY, 10, 3)
    assert best == datetime(2026, 3, 3, 7, 0, tzinfo=TOKYO)


def test_ties_go_to_the_earliest_hour():
    now = datetime(2026, 3, 2, 1, 10, tzinfo=UTC)  # 10:10 in Tokyo
    best = best_send_time(hist(h8=3, h14=3, h20=3), now, TOKYO, DAY, 10, 3)
    assert best == datetime(2026, 3, 2, 14, 0, tzinfo=TOKYO)  # 14 comes before 20 today and 8 tomorrow


def test_with_too_little_history_the_fallback_hour_local():
    now = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 13:00 in Tokyo: 10:00 is tomorrow
    assert best_send_time(hist(h19=2), now, TOKYO, DAY, 10, 3) == datetime(2026, 3, 3, 10, 0, tzinfo=TOKYO)
    assert best_send_time([0.0] * 24, now, TOKYO, DAY, 13, 3) == now  # already in the fallback hour


def test_a_window_shorter_than_a_day_only_considers_the_hours_inside_it():
    now = datetime(2026, 3, 2, 1, 10, tzinfo=UTC)  # 10:10 in Tokyo
    weights = hist(h19=5, h13=2)
    assert best_send_time(weights, now, TOKYO, timedelta(hours=4), 10, 3) == datetime(2026, 3, 2, 13, 0, tzinfo=TOKYO)
    # nothing of the history inside the window: all tie at zero, so the earliest instant (now)
    assert best_send_time(hist(h19=5), now, TOKYO, timedelta(hours=4), 10, 3) == now
    # the fallback hour not inside the window: now, never later than the window allows
    assert best_send_time([0.0] * 24, datetime(2026, 3, 2, 4, 0, tzinfo=UTC), TOKYO, timedelta(hours=2), 10, 3) == (
        datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    )


def test_dst_spring_forward_the_skipped_hour_is_never_chosen_and_hours_stay_local():
    # Berlin skips 02:00-03:00 on 2026-03-29. At 22:00 on the 28th, hour 2 does not occur in the next 24 h.
    now = datetime(2026, 3, 28, 21, 0, tzinfo=UTC)  # 22:00 CET
    best = best_send_time(hist(h2=9, h9=1), now, BERLIN, DAY, 10, 1)
    assert best.astimezone(BERLIN).hour == 9
    assert best == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 09:00 CEST is 07:00 UTC (the offset changed)


def test_dst_fall_back_a_repeated_hour_is_taken_at_its_first_occurrence():
    # Berlin repeats 02:00-03:00 on 2026-10-25 (first at 00:00 UTC, again at 01:00 UTC).
    now = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)  # 00:30 CEST
    best = best_send_time(hist(h2=5), now, BERLIN, DAY, 10, 1)
    assert best == datetime(2026, 10, 25, 0, 0, tzinfo=UTC)


def test_a_half_hour_zone_lands_on_its_local_hour_boundaries():
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30
    now = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 05:30 local
    best = best_send_time(hist(h9=3), now, kolkata, DAY, 10, 1)
    assert best.astimezone(kolkata).replace(tzinfo=None) == datetime(2026, 3, 2, 9, 0)


def test_candidates_refused_by_the_filter_are_skipped():
    now = datetime(2026, 3, 2, 1, 10, tzinfo=UTC)  # 10:10 in Tokyo

    def before_nine_pm(at: datetime) -> bool:
        return at.astimezone(TOKYO).hour < 21

    best = best_send_time(hist(h22=9, h18=2), now, TOKYO, DAY, 10, 3, allowed=before_nine_pm)
    assert best == datetime(2026, 3, 2, 18, 0, tzinfo=TOKYO)


@pytest.mark.parametrize(
    ("histogram", "now", "problem"),
    [([0.0] * 23, datetime(2026, 3, 2, tzinfo=UTC), "24"), ([0.0] * 24, datetime(2026, 3, 2), "aware")],
)
def test_bad_input_is_refused(histogram, now, problem):
    with pytest.raises(ValueError, match=problem):
        best_send_time(histogram, now, TOKYO, DAY, 10, 3)


def test_the_arm_is_a_stable_share_of_runs():
    arms = [arm_for("s", f"p{n}#t", 0.2) for n in range(2000)]
    assert arms == [arm_for("s", f"p{n}#t", 0.2) for n in range(2000)]
    assert 0.17 < arms.count(CONTROL) / len(arms) < 0.23
    assert {arm_for("s", f"p{n}#t", 0.0) for n in range(200)} == {OPTIMISED}


def test_plan_defers_the_optimised_arm_once_and_never_the_control_arm():
    config = sc.SendTime(control_share=0.5)
    profile = {"engagement_hours": {"email": {"zone": "Asia/Tokyo", "at": 0, "hours": hist(h19=5)}}}
    now = datetime(2026, 3, 2, 1, 10, tzinfo=UTC)
    runs = {arm_for("s", f"p{n}#t", 0.5): f"p{n}#t" for n in range(50)}
    common = {"scenario_id": "s", "profile": profile, "channel": "email", "now": now, "tz": TOKYO}
    first = plan(config, run_id=runs[OPTIMISED], deferred_before=False, **common)
    assert first is not None and first.arm == OPTIMISED and first.until == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    again = plan(config, run_id=runs[OPTIMISED], deferred_before=True, **common)
    assert again is not None and again.until is None  # the second time it comes due it goes
    control = plan(config, run_id=runs[CONTROL], deferred_before=False, **common)
    assert control is not None and control.arm == CONTROL and control.until is None
    assert plan(sc.SendTime(optimise=False), run_id="x", deferred_before=False, **common) is None


def send_step(**send_time: object) -> dict[str, object]:
    return {"type": "send", "channel": "email", "template": "t", "send_time": send_time}


def test_the_config_is_validated_with_clear_errors():
    step = sc.SendStep.model_validate(send_step(within="12h", fallback_hour=9, min_events=2, control_share=0.1))
    assert step.send_time is not None and step.send_time.window == timedelta(hours=12)
    bad = [
        ({"within": "30m"}, "between 1h and 7d"),
        ({"within": "8d"}, "between 1h and 7d"),
        ({"within": "soon"}, "within"),
        ({"fallback_hour": 24}, "fallback_hour"),
        ({"min_events": -1}, "min_events"),
        ({"control_share": 0.9}, "control_share"),
        ({"optimize": True}, "optimize"),  # a typo is an error, not ignored
    ]
    for fields, problem in bad:
        with pytest.raises(ValidationError, match=problem):
            sc.SendStep.model_validate(send_step(**fields))
    with pytest.raises(ValidationError, match="only for channels that reach the person"):
        sc.SendStep.model_validate(
            {"type": "send", "channel": "webhook", "url": "https://x.example", "send_time": {"within": "24h"}}
        )
