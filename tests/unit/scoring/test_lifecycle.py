"""Lifecycle stages from purchases, silence and consent; the next day time alone could change the stage."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.profiles.fold import fold
from chalicelib.profiles.model import Rfm
from chalicelib.scoring.config import LifecycleConfig
from chalicelib.scoring.lifecycle import evaluate_stage, next_due_day
from tests.unit.profiles.support import NOW, PROFILE_ID, at, bare_config, make_event, page

LIFECYCLE = LifecycleConfig(new_days=30, at_risk_days=90, dormant_days=180, churned_days=365)


def order(days_ago: float, revenue: float = 50):
    return make_event(event="Order Completed", when=at(days_ago), properties={"revenue": revenue})


def profile_of(*events):
    return fold(None, PROFILE_ID, list(events), bare_config(), NOW).profile


@pytest.mark.parametrize(
    ("events", "stage"),
    [
        ([page(at(1))], "prospect"),
        ([order(10)], "new"),
        ([order(60), page(at(1))], "active"),
        ([order(60, revenue=1500)], "loyal"),
        ([order(120), page(at(2))], "at_risk"),
        ([order(200)], "dormant"),
        ([order(400)], "churned"),
        ([page(at(400))], "churned"),
    ],
)
def test_stage_follows_purchases_and_silence(events, stage):
    assert evaluate_stage(profile_of(*events), LIFECYCLE, NOW) == stage


def test_unsubscribed_everywhere_is_churned_even_when_active():
    p = profile_of(order(5), make_event(event="Email Unsubscribed", when=at(1)), make_event(event="SMS Unsubscribed"))
    assert evaluate_stage(p, LIFECYCLE, NOW) == "churned"


def test_unsubscribed_from_one_channel_only_is_not_churned():
    p = profile_of(order(5), make_event(event="Email Unsubscribed", when=at(1)), make_event(event="SMS Subscribed"))
    assert evaluate_stage(p, LIFECYCLE, NOW) == "new"


def test_loyal_from_rfm_group_or_top_decile_of_the_needs_group():
    p = profile_of(order(60), page(at(1)))
    p.rfm = Rfm(r=5, f=5, m=5, group="Champions")
    assert evaluate_stage(p, LIFECYCLE, NOW) == "loyal"
    p.rfm, p.group_value_percentile = None, 95
    assert evaluate_stage(p, LIFECYCLE, NOW) == "loyal"


def test_next_due_day_is_the_day_after_the_earliest_time_threshold():
    # first order 10 days ago at noon: "new" ends 20 days from now at noon, swept the day after
    p = profile_of(order(10))
    assert next_due_day(p, LIFECYCLE, NOW) == (NOW.date() + timedelta(days=21)).isoformat()


def test_nothing_is_due_once_every_threshold_has_passed():
    assert next_due_day(profile_of(page(at(400))), LIFECYCLE, NOW) is None


def test_the_sweep_on_the_due_day_moves_the_stage_and_schedules_the_next():
    # GIVEN a new customer
    p = profile_of(order(10), page(at(0)))
    assert p.stage == "new"
    # WHEN the sweep folds no events on its due day
    sweep_day = NOW.replace(hour=1) + timedelta(days=21)
    assert p.due_day == sweep_day.date().isoformat()
    result = fold(p, PROFILE_ID, [], bare_config(), sweep_day)
    # THEN the stage changes, the change is a transition, and the next due day is set (at_risk at 90 days)
    assert result.profile.stage == "active"
    assert [(t.from_, t.to) for t in result.transitions if t.kind == "stage_changed"] == [("new", "active")]
    assert result.profile.due_day == (NOW.date() + timedelta(days=81)).isoformat()
