"""Lifecycle stage (prospect, new, active, loyal, at_risk, dormant, churned) and when time alone could change it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.tracking.events import utc_day

if TYPE_CHECKING:
    from chalicelib.profiles.model import Profile, Stage
    from chalicelib.scoring.config import LifecycleConfig

DAY = 86400.0


def _unsubscribed_everywhere(profile: Profile) -> bool:
    consent = profile.consent
    return bool(consent) and all(c.status == "opted_out" for c in consent.values())


def _is_loyal(profile: Profile, config: LifecycleConfig) -> bool:
    rule = config.loyal
    if rule.min_revenue is not None and profile.computed.revenue >= rule.min_revenue:
        return True
    rfm = profile.rfm
    if rfm is not None and (rfm.group in rule.rfm_groups or (rule.min_rfm_monetary and rfm.m >= rule.min_rfm_monetary)):
        return True
    percentile = profile.group_value_percentile
    return bool(
        rule.min_group_value_percentile is not None
        and percentile is not None
        and percentile >= rule.min_group_value_percentile
    )


def evaluate_stage(profile: Profile, config: LifecycleConfig, now: datetime) -> Stage:
    """The stage a profile is in at `now`, decided in this order (first match wins):

    1. churned  — opted out on every channel we know of, or no activity for `churned_days`;
    2. prospect — never ordered;
    3. dormant  — ordered before, no activity at all for `dormant_days`;
    4. at_risk  — still around maybe, but no order for `at_risk_days`;
    5. new      — first order less than `new_days` ago;
    6. loyal    — a top customer (see `LoyalRule`);
    7. active   — everyone else who ordered.

    "Activity" is the last non-bot event (`computed.last_seen`). The stage is a pure function of the profile, so it
    comes back by itself when a dormant customer returns.
    """
    ts = now.timestamp()
    activity = profile.activity
    silent_days = (ts - activity.last_ts) / DAY if activity.last_ts is not None else 0.0
    if _unsubscribed_everywhere(profile) or silent_days >= config.churned_days:
        return "churned"
    if profile.computed.orders <= 0 or activity.last_order_ts is None:
        return "prospect"
    if silent_days >= config.dormant_days:
        return "dormant"
    if (ts - activity.last_order_ts) / DAY >= config.at_risk_days:
        return "at_risk"
    first_order = activity.first_order_ts if activity.first_order_ts is not None else activity.last_order_ts
    if (ts - first_order) / DAY < config.new_days:
        return "new"
    if _is_loyal(profile, config):
        return "loyal"
    return "active"


def next_change_at(profile: Profile, config: LifecycleConfig, now: datetime) -> datetime | None:
    """The earliest instant after `now` at which a time threshold of `evaluate_stage` is crossed, if any."""
    ts = next_change_ts(profile, config, now.timestamp())
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def next_change_ts(profile: Profile, config: LifecycleConfig, now_ts: float) -> float | None:
    """`next_change_at` as epoch seconds (the fold's form: no datetime built per profile)."""
    activity = profile.activity
    candidates: list[float] = []
    if activity.last_ts is not None:
        candidates.append(activity.last_ts + config.churned_days * DAY)
        if activity.last_order_ts is not None:
            candidates.append(activity.last_ts + config.dormant_days * DAY)
    if activity.last_order_ts is not None:
        candidates.append(activity.last_order_ts + config.at_risk_days * DAY)
        first_order = activity.first_order_ts if activity.first_order_ts is not None else activity.last_order_ts
        candidates.append(first_order + config.new_days * DAY)
    future = [c for c in candidates if c > now_ts]
    return min(future) if future else None


def due_day_for(instant: datetime | None) -> str | None:
    """The sweep day for an instant: the day after it, so a daily sweep sees the change whatever hour it runs."""
    if instant is None:
        return None
    return due_day_for_ts(instant.timestamp())


def due_day_for_ts(ts: float) -> str:
    """`due_day_for` of an instant in epoch seconds (UTC days)."""
    return utc_day(int(ts // DAY) + 1)


def kept_due_day(stored: str | None, computed: str | None, now_ts: float) -> str | None:
    """The `due_day` to store: the computed one, unless the stored one still lies ahead and is no later.

    Due days only move earlier while they lie ahead. A visitor who comes back every day pushes the computed day (churn
    after silence, a score's decay) a day later each time, and each move rewrites the profile's `by_due_day` entry
    (a write unit per profile per active day). Keeping the earlier day costs at most one sweep visit on it, which
    re-evaluates the profile and stores the day then due: a time-based change is never late, since a computed day
    earlier than the stored one always replaces it."""
    if stored is not None and stored > utc_day(int(now_ts // DAY)) and (computed is None or computed >= stored):
        return stored
    return computed


def next_due_day(profile: Profile, config: LifecycleConfig, now: datetime) -> str | None:
    """`YYYY-MM-DD` of the next day the stage could change with time alone (key of the `by_due_day` index).

    A sweep on day D reads only profiles with `due_day = D` and folds them with no events; that re-evaluates the
    stage and sets the following due day. None when no time threshold lies ahead (e.g. already churned by silence).
    """
    return due_day_for(next_change_at(profile, config, now))
