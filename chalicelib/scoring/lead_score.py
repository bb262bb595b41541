"""Lead scoring like HubSpot: decaying engagement points, fit points from traits, grade A1..C3, threshold crossings."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, NamedTuple

from chalicelib.rules import IdentityCache, Predicate, compile_rule

if TYPE_CHECKING:
    from chalicelib.profiles.model import Profile, Scores
    from chalicelib.scoring.config import GradeConfig, ScoringConfig

DAY = 86400.0


class Crossing(NamedTuple):
    """A threshold the total crossed upwards (`score_crossed`) or fell back below (`score_dropped`); the fold records
    it on the profile as a transition."""

    kind: Literal["score_crossed", "score_dropped"]
    name: str
    from_: float
    to: float


def decay(value: float, seconds: float, half_life_days: float) -> float:
    """`value` after `seconds` of exponential decay (never grows: negative spans count as zero).

    The one home of the decay law: engagement, interests and the time until a score drops all go through this module.
    """
    if seconds <= 0 or value == 0:
        return value
    return value * 0.5 ** (seconds / (half_life_days * DAY))


def ranked_by_decay(
    values: Mapping[str, Sequence[float]], now_ts: float, half_life_days: float
) -> list[tuple[str, float]]:
    """Lazily decaying `[raw, at]` values `decay`ed to `now_ts`, heaviest first (ties by key): the same law in one
    pass, without a call per value (interests: a call per category was half of ranking them)."""
    span = half_life_days * DAY
    ranked = sorted(
        [(-(raw * 0.5 ** ((now_ts - at) / span) if at < now_ts else raw), key) for key, (raw, at) in values.items()]
    )
    return [(key, -weight) for weight, key in ranked]


def decay_time(value: float, target: float, half_life_days: float) -> float:
    """Seconds of `decay` that take `value` down to `target` (both positive; zero when it is there already)."""
    if value <= target:
        return 0.0
    return math.log2(value / target) * half_life_days * DAY


def add_decaying(
    raw: float, at: float | None, points: float, when: float, half_life_days: float
) -> tuple[float, float]:
    """Add `points` earned at `when` to a lazily decaying value `raw` (as of `at`); return the new (raw, at).

    Points earned before `at` (late events) are decayed to `at` instead of decaying the whole value backwards, so the
    sum is the same whichever order the points arrive in (up to float rounding).
    """
    if at is None:
        return points, when
    if when >= at:
        return decay(raw, when - at, half_life_days) + points, when
    return raw + decay(points, at - when, half_life_days), at


def current_engagement(profile: Profile, now: datetime) -> float:
    """Engagement score at `now`: the stored raw value decayed since `engagement_at` (no sweep needed)."""
    return _engagement(profile.scores, now.timestamp())


def _engagement(scores: Scores, now_ts: float) -> float:
    if scores.engagement_at is None:
        return 0.0
    return decay(scores.engagement_raw, now_ts - scores.engagement_at, scores.half_life_days)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A scoring config as plain values and compiled predicates: `update_scores` runs once per fold."""

    half_life_days: float
    fit: tuple[tuple[Predicate, float], ...]
    fit_cuts: tuple[float, float]
    engagement_cuts: tuple[float, float]
    thresholds: tuple[tuple[str, float], ...]
    names: frozenset[str]


_PLANS = IdentityCache(limit=64)


def _plan(config: ScoringConfig) -> _Plan:
    return _PLANS.get(config, _build_plan)


def _build_plan(config: ScoringConfig) -> _Plan:
    return _Plan(
        half_life_days=config.engagement.half_life_days,
        fit=tuple((compile_rule(rule), rule.points) for rule in config.fit),
        fit_cuts=(config.grade.fit_cuts[0], config.grade.fit_cuts[1]),
        engagement_cuts=(config.grade.engagement_cuts[0], config.grade.engagement_cuts[1]),
        thresholds=tuple((t.name, t.min_total) for t in config.thresholds),
        names=frozenset(t.name for t in config.thresholds),
    )


def _fit(profile: Profile, plan: _Plan) -> float:
    """Sum of the points of every fit rule the profile currently matches."""
    total = 0.0
    for matches, points in plan.fit:
        if matches(profile, None):
            total += points
    return total


def grade(fit: float, engagement: float, config: GradeConfig) -> str:
    """A1 (best fit, most engaged) ... C3: letter from the fit band, digit from the engagement band."""
    return _grade(fit, engagement, config.fit_cuts, config.engagement_cuts)


def _grade(fit: float, engagement: float, fit_cuts: Sequence[float], engagement_cuts: Sequence[float]) -> str:
    letter = "A" if fit >= fit_cuts[0] else "B" if fit >= fit_cuts[1] else "C"
    digit = "1" if engagement >= engagement_cuts[0] else "2" if engagement >= engagement_cuts[1] else "3"
    return letter + digit


def update_scores(profile: Profile, config: ScoringConfig, now: datetime) -> list[Crossing]:
    """Recompute fit, engagement-as-of-now, total and grade; return threshold crossings since the last evaluation.

    Only an upward crossing records `score_crossed`; falling back below records `score_dropped` (engagement decays,
    so the same lead can cross again later and that is reported again).
    """
    plan = _plan(config)
    scores = profile.scores
    scores.half_life_days = plan.half_life_days
    engagement = current_engagement(profile, now)
    fit = _fit(profile, plan)
    total = engagement + fit
    scores.engagement = round(engagement, 3)
    scores.fit = round(fit, 3)
    previous_total = scores.total
    scores.total = round(total, 3)
    scores.grade = _grade(fit, engagement, plan.fit_cuts, plan.engagement_cuts)

    above = [name for name, min_total in plan.thresholds if total >= min_total]
    if above == scores.crossed:
        return []  # the usual case: nothing crossed either way
    crossings = [
        Crossing("score_crossed", name, previous_total, scores.total) for name in above if name not in scores.crossed
    ]
    crossings += [
        Crossing("score_dropped", name, previous_total, scores.total)
        for name in scores.crossed
        if name not in above and name in plan.names
    ]
    scores.crossed = above
    return crossings


def next_score_drop(profile: Profile, config: ScoringConfig, now: datetime) -> datetime | None:
    """When decay alone first takes the total below a threshold it has crossed (None if that never happens)."""
    ts = next_score_drop_ts(profile, config, now.timestamp())
    return None if ts is None else now + timedelta(seconds=ts - now.timestamp())


def next_score_drop_ts(profile: Profile, config: ScoringConfig, now_ts: float) -> float | None:
    """`next_score_drop` as epoch seconds (the fold's form: no datetime built per profile)."""
    scores, plan = profile.scores, _plan(config)
    crossed = [min_total for name, min_total in plan.thresholds if name in scores.crossed]
    if not crossed or scores.engagement_at is None or scores.engagement_raw <= 0:
        return None
    target = max(crossed) - scores.fit  # the highest crossed threshold is the first to be lost
    if target <= 0:
        return None  # fit alone keeps it above
    return now_ts + decay_time(_engagement(scores, now_ts), target, scores.half_life_days)
