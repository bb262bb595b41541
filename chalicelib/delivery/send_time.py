"""Send-time optimisation: the best local hour to reach a person within a window, and the deferral of one send.

`best_send_time` is pure and shared (scenario sends here, broadcasts elsewhere): give it the person's engagement
weights by LOCAL hour of `tz` (`profiles.engagement_hours.local_weights`) and it answers with an instant. The send
path asks `plan` once per message: the control arm (a deterministic share of runs) and a message already deferred for
its send time go at once; the optimised arm is deferred to the best hour (reason `send_time`). Quiet hours, caps and
the other guards run again when the deferred step comes due, so they always win.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

from chalicelib.profiles.engagement_hours import local_weights
from chalicelib.scenarios.assignment import bucket
from chalicelib.scenarios.definitions import SendTime

SEND_TIME = "send_time"  # the deferral reason on the message record
Arm = Literal["optimised", "control"]
OPTIMISED: Arm = "optimised"
CONTROL: Arm = "control"
# A best hour less than this far away is "now": a deferral by a few minutes gains nothing and costs a due-store trip.
NOT_WORTH_DEFERRING = timedelta(minutes=5)


def best_send_time(
    histogram: Sequence[float],
    now: datetime,
    tz: tzinfo,
    within: timedelta,
    fallback_hour: int,
    min_events: float,
    *,
    allowed: Callable[[datetime], bool] | None = None,
) -> datetime:
    """The instant in `[now, now + within]` at which the person most often engaged, by local hour of `tz`.

    Parameters:
        histogram: 24 weights, index = local hour (0-23) in `tz` (decayed engagements: `local_weights`).
        now: aware datetime; `within`: how far ahead the answer may lie (a day: every hour is a candidate once).
        fallback_hour: local hour used when the weights sum to less than `min_events` (too little history).
        allowed: optional filter of candidate instants (e.g. outside quiet hours); when nothing in the window
            passes it, the filter is ignored (the guards then decide).
    Returns:
        `now` when the current local hour is the best one (or the wanted hour does not occur in the window), else the
        start of the best local hour in the window, in UTC. Ties go to the earliest candidate: sooner is better for
        equal evidence. DST: candidates step through real instants, so a skipped local hour never occurs and a
        repeated one is taken at its first occurrence.

    Example:
        >>> weights = [0.0] * 24; weights[19] = 5.0
        >>> best_send_time(weights, datetime(2026, 11, 24, 9, 10, tzinfo=UTC), UTC, timedelta(hours=24), 10, 3)
        datetime.datetime(2026, 11, 24, 19, 0, tzinfo=datetime.timezone.utc)
    """
    if len(histogram) != 24:
        raise ValueError(f"histogram needs 24 hourly weights, got {len(histogram)}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not 0 <= fallback_hour <= 23:
        raise ValueError("fallback_hour must be 0-23")
    now = now.astimezone(UTC)
    candidates = _candidates(now, tz, within)
    if allowed is not None:
        permitted = [(at, hour) for at, hour in candidates if allowed(at)]
        candidates = permitted or candidates
    if sum(histogram) < min_events:
        return next((at for at, hour in candidates if hour == fallback_hour), now)
    best_at, best_weight = now, -1.0
    for at, hour in candidates:
        if histogram[hour] > best_weight:  # strictly greater: a tie keeps the earlier instant
            best_at, best_weight = at, histogram[hour]
    return best_at


def _candidates(now: datetime, tz: tzinfo, within: timedelta) -> list[tuple[datetime, int]]:
    """(instant, local hour): `now` itself, then the start of every following local hour up to `now + within`."""
    local = now.astimezone(tz)
    out = [(now, local.hour)]
    # Stepping in UTC from the start of the current local hour keeps every step on a local hour boundary (offsets
    # change by whole hours) and lets the zone, not wall-clock arithmetic, say which local hour each instant is.
    start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    end = now + within
    at = start + timedelta(hours=1)
    while at <= end:
        out.append((at, at.astimezone(tz).hour))
        at += timedelta(hours=1)
    return out


def arm_for(scenario_id: str, run_id: str, control_share: float) -> Arm:
    """The run's arm: a stable hash of (scenario, run = profile + trigger instance), independent of the A/B and
    holdout hashes (its own label), so every send-time step of one run is in the same arm."""
    return CONTROL if bucket("send_time", scenario_id, run_id) < control_share else OPTIMISED


@dataclass(frozen=True)
class SendTimePlan:
    """What to do with one send: its arm, and the instant to defer to (None: go now)."""

    arm: Arm
    until: datetime | None = None


def plan(
    config: SendTime,
    *,
    scenario_id: str,
    run_id: str,
    profile: Mapping[str, Any],
    channel: str,
    now: datetime,
    tz: tzinfo,
    deferred_before: bool,
    allowed: Callable[[datetime], bool] | None = None,
) -> SendTimePlan | None:
    """The send-time decision for one message (None: optimisation is off for this step).

    `deferred_before`: the message was already deferred for its send time; it now goes (never optimised again,
    or a deferral could chase the best hour forever)."""
    if not config.optimise:
        return None
    arm = arm_for(scenario_id, run_id, config.control_share)
    if arm == CONTROL or deferred_before:
        return SendTimePlan(arm)
    weights = local_weights(profile, channel, now, tz)
    until = best_send_time(weights, now, tz, config.window, config.fallback_hour, config.min_events, allowed=allowed)
    return SendTimePlan(arm, until if until - now >= NOT_WORTH_DEFERRING else None)
