"""Delivery guards: pure checks that decide whether one message may go now (allow), never (skip) or later (defer).

`run_guards` applies them in a fixed order and returns the first non-allow decision; every reason is a stable code.
Order and why:

1. `holdout`                 the person is in the control group: nothing else matters.
2. `trigger_no_longer_holds` an exit condition fired (bought, cart emptied, left the segment).
3. `no_address`              no email / phone for the channel; `sms_destination_refused`: a text to a country
                             outside `sms_countries` or to a premium, shared-cost or unknown range.
4. `suppressed`              bounce / complaint list; applies to transactional mail too.
5. `no_consent`              marketing needs an explicit opt-in on the channel (permission marketing).
6. `cap_day`, 7. `cap_week`  frequency caps per channel per person (marketing only), then per topic and channel
                             (`cap_topic_day`, `cap_topic_week`), over the recipient's calendar days (or rolling).
8. `budget`                  per-customer marketing spend, capped by customer value (marketing only).
9. `quiet_hours`             defer (never drop) to the end of the recipient's local quiet window.

Permanent skips come before the deferral so a message is never deferred only to be skipped when it comes due; the
service re-runs all guards when a deferred send comes due. Internal channels (`sales_alert`, `webhook`) reach no
customer, so only guards 1-2 apply to them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.profiles import view
from chalicelib.profiles.devices import push_targets
from chalicelib.scenarios import definitions as sc
from chalicelib.tracking.events import TrackedEvent, iso

if TYPE_CHECKING:  # the engine is imported lazily at run time (it imports nothing from here; keep it one-way)
    from chalicelib.scenarios.engine import ScenarioRun, SendAction

HOLDOUT = "holdout"
TRIGGER_NO_LONGER_HOLDS = "trigger_no_longer_holds"
NO_ADDRESS = "no_address"
SMS_DESTINATION_REFUSED = "sms_destination_refused"
SUPPRESSED = "suppressed"
NO_CONSENT = "no_consent"
CAP_DAY = "cap_day"
CAP_WEEK = "cap_week"
CAP_TOPIC_DAY = "cap_topic_day"
CAP_TOPIC_WEEK = "cap_topic_week"
BUDGET = "budget"
QUIET_HOURS = "quiet_hours"
LOW_UPLIFT = "low_uplift"
# Not a guard: the send-time outcome of a push whose every device's endpoint SNS had disabled (tokens then retired).
ENDPOINT_DISABLED = "endpoint_disabled"
REASON_CODES: tuple[str, ...] = (
    HOLDOUT,
    TRIGGER_NO_LONGER_HOLDS,
    NO_ADDRESS,
    SMS_DESTINATION_REFUSED,
    SUPPRESSED,
    NO_CONSENT,
    CAP_DAY,
    CAP_WEEK,
    CAP_TOPIC_DAY,
    CAP_TOPIC_WEEK,
    BUDGET,
    QUIET_HOURS,
)

DEFAULT_DELIVERY_CONFIG = Path(__file__).resolve().parent.parent / "config" / "delivery.json"

# --------------------------------------------------------------------------------------------------------------------
# Configuration (chalicelib/config/delivery.json)
# --------------------------------------------------------------------------------------------------------------------


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FrequencyCap(_Config):
    """Maximum marketing messages per person on one channel a day / a week (None = no cap); what a day is comes from
    `DeliveryConfig.cap_window`."""

    per_day: int | None = Field(default=None, ge=0)
    per_week: int | None = Field(default=None, ge=0)


class QuietHours(_Config):
    """Local-time window with no sends, e.g. 21:00-08:00 (may wrap midnight); `start == end` disables it."""

    start: time = time(21, 0)
    end: time = time(8, 0)
    channels: list[sc.Channel] = Field(default_factory=lambda: list[sc.Channel](["email", "sms"]))
    apply_to_transactional: list[sc.Channel] = Field(
        default_factory=lambda: list[sc.Channel](["sms"]),
        description="Channels where even transactional messages wait (a text at 3 am wakes people up).",
    )


class Budget(_Config):
    """Per-customer marketing budget for the period: `max(min_budget, ltv * ltv_share)`.

    A message is allowed while `spent_so_far + cost(channel) <= budget`. `min_budget` lets prospects with no revenue
    still get a few messages; `ltv_share` makes valuable customers worth more touches. The caller sums the spend over
    `period`."""

    min_budget: float = Field(ge=0)
    ltv_share: float = Field(ge=0, le=1)
    period: Literal["month", "quarter", "year"] = "month"


class ChannelRate(_Config):
    """How fast one channel may send, across every Lambda container (delivery/pacing.py)."""

    max_send_rate: float | None = Field(
        default=None,
        gt=0,
        description="Messages per second. Email: the lower of this and the SES account's MaxSendRate (None: the "
        "account's). SMS: SNS has no per-account figure to read, so set it (default 20/s).",
    )
    marketing_share: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Share of each second marketing may take; transactional messages may take all of it.",
    )


def _default_rates() -> dict[sc.Channel, ChannelRate]:
    return {"email": ChannelRate(), "sms": ChannelRate(max_send_rate=20.0), "push": ChannelRate(max_send_rate=100.0)}


class DeliveryConfig(_Config):
    """Guard settings a marketer may change."""

    schema_: str | None = Field(default=None, alias="$schema", exclude=True)
    default_timezone: str = "UTC"
    currency: str = "USD"
    default_locale: str = Field(default="en", description="Locale of mail to people whose locale is unknown (`ja`).")
    shop_url: str = Field(default="", description="The shop's home page: mail links here when a source names none.")
    caps: dict[sc.Channel, FrequencyCap] = Field(default_factory=dict)
    topic_caps: dict[str, dict[sc.Channel, FrequencyCap]] = Field(
        default_factory=dict,
        description="Caps per preference topic (a scenario's or broadcast's `topic`) and channel, counted over every "
        'scenario and broadcast of that topic, e.g. {"promotions": {"email": {"per_week": 2}}}.',
    )
    cap_window: Literal["calendar", "rolling"] = Field(
        default="calendar",
        description="calendar: today and this week in the recipient's time zone (profile, else default_timezone); "
        "rolling: the last 24 hours and 7 days.",
    )
    week_starts_on: Literal["monday", "sunday"] = "monday"
    sending_rate: dict[sc.Channel, ChannelRate] = Field(default_factory=_default_rates)
    account_rate_cache_seconds: int = Field(
        default=300, ge=1, description="How long a container keeps the SES account's MaxSendRate it read."
    )
    max_pacing_delay_seconds: int = Field(
        default=60,
        ge=1,
        le=900,
        description="Longest wait of a send that found no sending slot (SQS delay, backoff with jitter up to this).",
    )
    quiet_hours: QuietHours | None = None
    costs: dict[sc.Channel, float] = Field(default_factory=dict, description="Cost per message, in `currency`.")
    budget: Budget | None = None
    sms_countries: list[str] = Field(
        default_factory=lambda: ["US", "CA", "GB", "DE", "FR", "JP", "AU"],
        description="ISO 3166 regions texts may go to; premium, shared-cost and unknown ranges are refused anywhere.",
    )

    @field_validator("default_timezone")
    @classmethod
    def _valid_tz(cls, value: str) -> str:
        return sc.valid_timezone(value)

    @model_validator(mode="after")
    def _non_negative_costs(self) -> DeliveryConfig:
        if any(cost < 0 for cost in self.costs.values()):
            raise ValueError("costs must be >= 0")
        return self


def load_delivery_config(path: str | Path = DEFAULT_DELIVERY_CONFIG) -> DeliveryConfig:
    """Read and validate a delivery config file (pydantic ValidationError on bad values)."""
    return DeliveryConfig.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def default_delivery_config() -> DeliveryConfig:
    """The packaged `chalicelib/config/delivery.json`, read once per container."""
    return load_delivery_config()


# --------------------------------------------------------------------------------------------------------------------
# Decisions and input
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuardDecision:
    """allow / skip(reason) / defer(until, reason). `detail` is human-readable and not for matching."""

    outcome: Literal["allow", "skip", "defer"]
    reason: str | None = None
    until: datetime | None = None
    detail: str = ""

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"


ALLOW = GuardDecision("allow")


def skip(reason: str, detail: str = "") -> GuardDecision:
    """A permanent no for this message."""
    return GuardDecision("skip", reason, None, detail)


def defer(until: datetime, reason: str, detail: str = "") -> GuardDecision:
    """Not now; try again at `until` (UTC)."""
    return GuardDecision("defer", reason, until, detail)


@dataclass(frozen=True)
class SendContext:
    """Everything the guards look at for one message. Counts and spend are the caller's (rolling 24 h / 7 days on
    this channel; spend in the budget period), so the guards stay pure.

    Trigger check: pass `exit_reason` (already computed) or `scenario` + `events_since` (+ `run_context`,
    `run_since`, `audience_member`) and the guard calls `scenario_engine.should_exit`.
    """

    channel: str
    marketing: bool
    profile: Mapping[str, Any]
    now: datetime
    suppressed: bool = False
    holdout: bool = False
    sent_today: int = 0
    sent_this_week: int = 0
    topic_sent_today: int = 0
    topic_sent_this_week: int = 0
    spend_so_far: float = 0.0
    topic: str | None = None
    exit_reason: str | None = None
    scenario: sc.Scenario | None = None
    events_since: tuple[TrackedEvent, ...] = ()
    run_context: Mapping[str, Any] = field(default_factory=dict)
    run_since: datetime | None = None
    audience_member: bool | None = None
    target: sc.UpliftTarget | None = None  # the step's uplift targeting (`check_uplift_target`)

    @property
    def to_customer(self) -> bool:
        return self.channel in sc.CUSTOMER_CHANNELS


Guard = Callable[[SendContext, DeliveryConfig], GuardDecision]


def send_context_for(
    scenario: sc.Scenario,
    run: ScenarioRun,
    action: SendAction,
    profile: Mapping[str, Any],
    now: datetime,
    **caller_facts: Any,
) -> SendContext:
    """The SendContext for executing `action` of `run`: channel, marketing flag (step override, else scenario),
    preference topic, holdout and the exit-condition inputs come from the scenario and run; `caller_facts` adds what
    only the caller knows (`suppressed`, the cap counts of `count_sends`, `spend_so_far`, `events_since`,
    `audience_member`)."""
    step = action.step
    if "events_since" in caller_facts:
        caller_facts["events_since"] = tuple(caller_facts["events_since"])
    return SendContext(
        channel=step.channel,
        marketing=scenario.marketing if step.marketing is None else step.marketing,
        profile=profile,
        now=now,
        holdout=run.holdout,
        topic=scenario.topic,
        scenario=scenario,
        run_context=run.context,
        run_since=run.entered_at,
        target=step.target,
        **caller_facts,
    )


# --------------------------------------------------------------------------------------------------------------------
# The guards
# --------------------------------------------------------------------------------------------------------------------


def check_holdout(ctx: SendContext, config: DeliveryConfig) -> GuardDecision:
    """Skip everything for the control group (the run still records what would have been sent)."""
    return skip(HOLDOUT, "profile is in the scenario holdout") if ctx.holdout else ALLOW


def check_uplift_target(ctx: SendContext, config: DeliveryConfig) -> GuardDecision:
    """Skip people the scenario's uplift model ranks below the step's `target` (the fold stores each person's
    predicted uplift and its rank in `predictions.uplift` / `uplift_rank`). Runs after the holdout guard, so the
    control group stays a random sample of everyone and the report keeps measuring the uplift."""
    target, scenario = ctx.target, ctx.scenario
    if target is None or scenario is None:
        return ALLOW
    predictions = ctx.profile.get("predictions")
    uplift = rank = None
    if isinstance(predictions, Mapping):
        uplift = view.to_number((predictions.get("uplift") or {}).get(scenario.id))
        rank = view.to_number((predictions.get("uplift_rank") or {}).get(scenario.id))
    if uplift is None:
        return ALLOW  # no model for this scenario yet (or for this person): untargeted, as before
    if target.uplift_min is not None and uplift < target.uplift_min:
        return skip(LOW_UPLIFT, f"predicted uplift {uplift:.4f} < {target.uplift_min}")
    if target.uplift_top_share is not None and rank is not None and rank < 1.0 - target.uplift_top_share - 1e-9:
        return skip(LOW_UPLIFT, f"uplift rank {rank:.2f} outside the top {target.uplift_top_share:.0%}")
    return ALLOW


def check_trigger_holds(ctx: SendContext, config: DeliveryConfig) -> GuardDecision:
    """Skip when an exit condition fired since the run started (e.g. bought, cart emptied)."""
    reason = ctx.exit_reason
    if reason is None and ctx.scenario is not None:
        from chalicelib.scenarios.engine import should_exit

        reason = should_exit(
            ctx.scenario,
            ctx.profile,
            ctx.events_since,
            context=ctx.run_context,
            since=ctx.run_since,
            audience_member=ctx.audience_member,
        )
    return skip(TRIGGER_NO_LONGER_HOLDS, reason) if reason else ALLOW


def check_address(ctx: SendContext, config: DeliveryConfig) -> GuardDecision:
    """Skip when the profile has no email (email channel) or phone (sms channel)."""
    if ctx.channel == "email" and view.email_address(ctx.profile) is None:
        return skip(NO_ADDRESS, "no email address")
    if ctx.channel == "push" and not push_targets(ctx.profile, marketing=False):
        return skip(NO_ADDRESS, "no push device (no token, unregistered, or notifications turned off)")
    if ctx.channel == "sms":
        phone = view.phone_number(ctx.profile)
        if phone is None:
            return skip(NO_ADDRESS, "no phone number")
        from chalicelib.tracking.identity import sms_destination_problem

        problem = sms_destination_problem(phone, frozenset(config.sms_countries))
        if problem is not None:
            return skip(SMS_DESTINATION_REFUSED, problem)
    return ALLOW


def check_suppression(ctx: SendContext, config: DeliveryConfig) -> GuardDecision:
    """Skip suppressed addresses (hard bounce, complaint), transactional or not."""
    return skip(SUPPRESSED, f"{ctx.channel} address is suppressed") if ctx.suppressed and ctx.to_customer else ALLOW


def check_consent(ctx: SendContext, config: DeliveryConfig) -> GuardDecision:
    """Marketing needs `consent.<channel>.status == "opted_in"`; unknown counts as no (opt-in, not opt-out, law:
    e.g. Japan's Act on Specified Electronic Mail, GDPR). An opted-out preference-centre topic
    (`consent.topics.<topic>.status == "opted_out"`) also blocks. Transactional messages are exempt."""
    if not ctx.marketing or not ctx.to_customer:
        return ALLOW
    status = view.consent_status(ctx.profile, ctx.channel)
    if status != "opted_in":
        return skip(NO_CONSENT, f"{ctx.channel} consent is {status or 'unknown'}")
    if view.topic_opted_out(ctx.profile, ctx.topic):
        return skip(NO_CONSENT, f"opted out of topic {ctx.topic!r}")
    return ALLOW


def check_frequency(ctx: SendContext, config: DeliveryConfig) -> GuardDecision:
    """Skip marketing beyond the per-channel daily / weekly caps, then the caps of its topic on that channel (counts
    exclude this message; `count_sends` makes them)."""
    if not ctx.marketing or not ctx.to_customer:
        return ALLOW
    window = "today" if config.cap_window == "calendar" else "in 24h"
    week = "this week" if config.cap_window == "calendar" else "in 7d"
    cap = config.caps.get(ctx.channel)  # type: ignore[call-overload]
    if cap is not None:
        if cap.per_day is not None and ctx.sent_today >= cap.per_day:
            return skip(CAP_DAY, f"{ctx.sent_today} {ctx.channel} sent {window}, cap {cap.per_day}")
        if cap.per_week is not None and ctx.sent_this_week >= cap.per_week:
            return skip(CAP_WEEK, f"{ctx.sent_this_week} {ctx.channel} sent {week}, cap {cap.per_week}")
    topic_cap = config.topic_caps.get(ctx.topic or "", {}).get(ctx.channel)  # type: ignore[call-overload]
    if topic_cap is not None:
        if topic_cap.per_day is not None and ctx.topic_sent_today >= topic_cap.per_day:
            return skip(
                CAP_TOPIC_DAY,
                f"{ctx.topic_sent_today} {ctx.topic} {ctx.channel} sent {window}, cap {topic_cap.per_day}",
            )
        if topic_cap.per_week is not None and ctx.topic_sent_this_week >= topic_cap.per_week:
            return skip(
                CAP_TOPIC_WEEK,
                f"{ctx.topic_sent_this_week} {ctx.topic} {ctx.channel} sent {week}, cap {topic_cap.per_week}",
            )
    return ALLOW


def cap_window_starts(now: datetime, tz: Any, config: DeliveryConfig) -> tuple[datetime, datetime]:
    """The UTC instants the cap day and week start at: the recipient's local midnight today and on the first day of
    this week (`calendar`, DST-safe: midnight is resolved in the zone on that date), or 24 h / 7 days ago (`rolling`).
    """
    if config.cap_window == "rolling":
        return now - timedelta(days=1), now - timedelta(days=7)
    local_day = now.astimezone(tz).date()
    first = 0 if config.week_starts_on == "monday" else 6  # date.weekday(): Monday 0 ... Sunday 6
    week_day = local_day - timedelta(days=(local_day.weekday() - first) % 7)
    midnight = time(0, 0)
    return (
        datetime.combine(local_day, midnight, tzinfo=tz).astimezone(now.tzinfo),
        datetime.combine(week_day, midnight, tzinfo=tz).astimezone(now.tzinfo),
    )


def count_sends(
    sends: Iterable[Mapping[str, Any]],
    channel: str,
    topic: str | None,
    now: datetime,
    tz: Any,
    config: DeliveryConfig,
) -> dict[str, int]:
    """The cap counts for one message from the person's send log (every scenario and broadcast writes the same log):
    marketing sends on `channel` today / this week, and those of them with `topic`. Entries are `SendLogEntry`s, their
    send time in `sk` (`log#{iso}#{message_id}`); transactional sends are never counted."""
    day_start, week_start = (iso(t) for t in cap_window_starts(now, tz, config))
    counts = {"sent_today": 0, "sent_this_week": 0, "topic_sent_today": 0, "topic_sent_this_week": 0}
    for entry in sends:
        if entry.get("channel") != channel or not entry.get("marketing", True):
            continue
        at = str(entry.get("sk", ""))[4:]
        if at < week_start:
            continue
        same_topic = bool(topic) and entry.get("topic") == topic
        counts["sent_this_week"] += 1
        counts["topic_sent_this_week"] += same_topic
        if at >= day_start:
            counts["sent_today"] += 1
            counts["topic_sent_today"] += same_topic
    return counts


def customer_budget(profile: Mapping[str, Any], budget: Budget) -> float:
    """The period budget for this customer: `max(min_budget, value * ltv_share)`, the value being the predicted
    12-month CLV when there is one, else the historical value (see `view.budget_value`)."""
    return customer_budget_with_basis(profile, budget)[0]


def customer_budget_with_basis(profile: Mapping[str, Any], budget: Budget) -> tuple[float, str]:
    value, basis = view.budget_value(profile)
    return max(budget.min_budget, value * budget.ltv_share), basis


def check_budget(ctx: SendContext, config: DeliveryConfig) -> GuardDecision:
    """Skip marketing whose cost would take the customer's spend over `customer_budget`."""
    if config.budget is None or not ctx.marketing or not ctx.to_customer:
        return ALLOW
    cost = config.costs.get(ctx.channel, 0.0)  # type: ignore[call-overload]
    limit, basis = customer_budget_with_basis(ctx.profile, config.budget)
    if ctx.spend_so_far + cost > limit + 1e-9:  # tolerance: float sums of per-message costs
        # the basis leads the detail, so a record shows whether predicted CLV or the historical fallback capped it
        return skip(
            BUDGET,
            f"{basis}: spent {ctx.spend_so_far:.4f} + {cost:.4f} > budget {limit:.4f} {config.currency}",
        )
    return ALLOW


def recipient_timezone(profile: Mapping[str, Any], config: DeliveryConfig) -> Any:
    """The profile's IANA zone, or the configured default when missing or unknown."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = view.timezone_name(profile)
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(config.default_timezone)


def quiet_until(now: datetime, tz: Any, quiet: QuietHours) -> datetime | None:
    """When `now` falls in the local quiet window, the UTC instant the window ends; else None."""
    if quiet.start == quiet.end:
        return None
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        inside, end_day = quiet.start <= t < quiet.end, local.date()
    else:  # wraps midnight: 21:00-08:00
        inside = t >= quiet.start or t < quiet.end
        end_day = local.date() if t < quiet.end else local.date() + timedelta(days=1)
    if not inside:
        return None
    until = datetime.combine(end_day, quiet.end, tzinfo=tz)
    # A DST gap can map the wall-clock end onto an instant we have already passed; never defer into the past.
    return until if until > now else now + timedelta(minutes=1)


def check_quiet_hours(ctx: SendContext, config: DeliveryConfig) -> GuardDecision:
    """Defer (never drop) a send that falls in the recipient's local quiet hours to the end of the window."""
    quiet = config.quiet_hours
    if quiet is None or ctx.channel not in quiet.channels:
        return ALLOW
    if not ctx.marketing and ctx.channel not in quiet.apply_to_transactional:
        return ALLOW
    until = quiet_until(ctx.now, recipient_timezone(ctx.profile, config), quiet)
    if until is None:
        return ALLOW
    return defer(until, QUIET_HOURS, f"local quiet hours {quiet.start:%H:%M}-{quiet.end:%H:%M}")


GUARDS: tuple[Guard, ...] = (
    check_holdout,
    check_uplift_target,
    check_trigger_holds,
    check_address,
    check_suppression,
    check_consent,
    check_frequency,
    check_budget,
    check_quiet_hours,
)


def run_guards(ctx: SendContext, config: DeliveryConfig, guards: Iterable[Guard] = GUARDS) -> GuardDecision:
    """The first non-allow decision of `guards` (in the documented order), or ALLOW.

    Example:
        decision = run_guards(SendContext(channel="email", marketing=True, profile=p, now=now), config)
        if decision.outcome == "defer": reschedule(decision.until)
    """
    for guard in guards:
        decision = guard(ctx, config)
        if not decision.allowed:
            return decision
    return ALLOW
