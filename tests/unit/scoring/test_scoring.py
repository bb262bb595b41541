"""Lead scoring: engagement points with daily caps and lazy decay, fit rules, grades and threshold crossings."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from chalicelib.profiles.fold import fold
from chalicelib.profiles.model import Profile
from chalicelib.scoring.config import GradeConfig
from chalicelib.scoring.lead_score import (
    DAY,
    current_engagement,
    decay,
    decay_time,
    grade,
    next_score_drop,
    ranked_by_decay,
)
from tests.unit.profiles.support import NOW, PROFILE_ID, at, bare_config, identify, make_event, page

SCORING = {
    "engagement": {
        "half_life_days": 10,
        "events": {"Page Viewed": {"points": 2, "daily_cap": 3}, "Demo": {"points": 40}},
    },
    "fit": [
        {"field": "email", "op": "exists", "points": 10},
        {"field": "traits.title", "op": "contains", "value": "director", "points": 15},
    ],
    "grade": {"fit_cuts": [25, 10], "engagement_cuts": [30, 10]},
    "thresholds": [{"name": "mql", "min_total": 45}],
}


def run(events, profile=None, now=NOW):
    return fold(profile, PROFILE_ID, events, bare_config(scoring=SCORING), now)


def test_page_reloads_beyond_the_daily_cap_earn_nothing():
    reloads = [page(at(0, minutes=i)) for i in range(20)]
    assert run(reloads).profile.scores.engagement_raw == 6  # 3 awards x 2 points


def test_the_cap_is_per_day():
    days = [page(at(d, minutes=i)) for d in (0, 1) for i in range(5)]
    raw = run(days).profile.scores.engagement_raw
    assert raw == pytest.approx(6 + 6 * 0.5 ** (1 / 10))


def test_engagement_halves_every_half_life_without_any_write():
    p = run([make_event(event="Demo", when=NOW.replace(hour=0))]).profile
    assert current_engagement(p, NOW.replace(hour=0)) == 40
    assert current_engagement(p, NOW.replace(hour=0) + timedelta(days=10)) == pytest.approx(20)
    assert current_engagement(p, NOW.replace(hour=0) + timedelta(days=20)) == pytest.approx(10)


def test_engagement_of_a_fresh_profile_is_zero():
    assert current_engagement(Profile(profile_id="p"), NOW) == 0


def test_fit_points_come_from_trait_rules():
    p = run([identify({"email": "a@b.co", "title": "Marketing Director"})]).profile
    assert p.scores.fit == 25
    assert p.scores.grade == "A3"


@pytest.mark.parametrize(
    ("fit", "engagement", "expected"),
    [(25, 30, "A1"), (24.9, 29.9, "B2"), (10, 10, "B2"), (9, 9, "C3"), (0, 100, "C1")],
)
def test_grade_letter_is_the_fit_band_and_digit_the_engagement_band(fit, engagement, expected):
    assert grade(fit, engagement, GradeConfig(fit_cuts=[25, 10], engagement_cuts=[30, 10])) == expected


def test_crossing_a_threshold_upwards_is_recorded_once():
    # GIVEN a lead with fit 10 (email) and a demo request this morning (40 points, awarded at the start of the day)
    first = run([identify({"email": "a@b.co"}, at(0, 5)), make_event(event="Demo", when=at(0, 4))])
    crossed = [t for t in first.transitions if t.kind == "score_crossed"]
    assert [(t.name, t.from_) for t in crossed] == [("mql", 0)]
    assert crossed[0].to == pytest.approx(10 + 40 * 0.5 ** (0.5 / 10), abs=0.001)
    # WHEN more activity keeps the total above the threshold
    second = run([page(at(0, 1))], profile=first.profile)
    # THEN it is not recorded again
    assert not [t for t in second.transitions if t.kind == "score_crossed"]
    assert second.profile.scores.crossed == ["mql"]


def test_decay_below_a_threshold_records_a_drop_and_schedules_the_sweep():
    # GIVEN an mql (10 fit + 40 engagement from midnight today; threshold 45)
    p = run([identify({"email": "a@b.co"}, at(0, 5)), make_event(event="Demo", when=at(0, 4))]).profile
    # WHEN nothing happens: 40 decays below 35 after 10 * log2(40/35) = 1.93 days
    drop = next_score_drop(p, bare_config(scoring=SCORING).scoring, NOW)
    midnight = NOW.replace(hour=0)
    assert drop == pytest.approx(midnight + timedelta(days=10 * math.log2(40 / 35)), abs=timedelta(seconds=1))
    assert p.due_day == (drop.date() + timedelta(days=1)).isoformat()
    # THEN the sweep that day records the drop
    later = run([], profile=p, now=NOW + timedelta(days=3))
    assert [(t.kind, t.name) for t in later.transitions if t.kind.startswith("score")] == [("score_dropped", "mql")]
    assert later.profile.scores.crossed == []


def test_bots_never_earn_engagement():
    assert run([make_event(event="Demo", is_bot=True)]).profile.scores.engagement_raw == 0


def test_ranking_by_decay_gives_every_value_what_decay_gives_it():
    # GIVEN weights recorded at different times, one of them in the future (a late clock) and one at zero
    now = NOW.timestamp()
    values = {"tea": [8.0, now - 20 * DAY], "cups": [3.0, now - 1 * DAY], "pots": [5.0, now + DAY], "mugs": [0.0, now]}
    # THEN the ranking holds exactly `decay` of each, heaviest first, ties by name
    expected = sorted(
        ((name, decay(raw, now - at, 10)) for name, (raw, at) in values.items()), key=lambda x: (-x[1], x[0])
    )
    assert ranked_by_decay(values, now, 10) == expected
    assert [name for name, _ in expected] == ["pots", "cups", "tea", "mugs"]


def test_decay_time_is_how_long_decay_takes_to_reach_a_target():
    seconds = decay_time(40, 35, 10)
    assert seconds == pytest.approx(10 * DAY * math.log2(40 / 35))
    assert decay(40, seconds, 10) == pytest.approx(35)
    assert decay_time(30, 35, 10) == 0.0  # already below
