"""Scenario definitions (who / when / what / how) as pydantic-validated data.

A scenario file is one JSON (or YAML) object validated by `Scenario`. Steps are a FLAT list; control flow is by step id:

- every step may carry an `id` and a `next` (id of the step to run after it; default: the following step);
- `split` jumps to `yes` / `no` (a step id; omitted = carry on with the following step);
- `random_split` jumps to the `goto` of the branch picked by a deterministic hash;
- `end` stops the run.

A flat list keeps the persisted run state a single integer (`ScenarioRun.step_index`) and still expresses branches and
joins; the loader rejects unknown ids and cycles, so a run always finishes.

Nothing here performs I/O: `scenarios.loader` reads and cross-checks scenario files; `scenarios.schedule` holds the
durations and cron expressions the models validate.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from chalicelib.rules import Operator
from chalicelib.scenarios.schedule import (
    Duration,
    cron_matches,
    cron_sets_match,
    duration_field,
    parse_cron,
    parse_duration,
    valid_timezone,
)

__all__ = [
    "CUSTOMER_CHANNELS",
    "Audience",
    "BackInStockTrigger",
    "CATALOG_TRIGGER_TYPES",
    "Channel",
    "Condition",
    "Duration",
    "EndStep",
    "EventTrigger",
    "ExitCondition",
    "Fact",
    "Interest",
    "LowStockTrigger",
    "Operator",
    "PriceDropTrigger",
    "RandomBranch",
    "RandomSplitStep",
    "Reentry",
    "ReentryAfter",
    "Scenario",
    "ScheduleTrigger",
    "ScoreTrigger",
    "SegmentTrigger",
    "SendStep",
    "SendTime",
    "UpliftTarget",
    "SplitStep",
    "Stage",
    "StageTrigger",
    "Step",
    "TemplateNeed",
    "Trigger",
    "Variant",
    "WaitStep",
    "cron_matches",
    "cron_sets_match",
    "parse_cron",
    "parse_duration",
    "valid_timezone",
]

# --------------------------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------------------------

# in_app: `template` names an in-app message
Channel = Literal["email", "sms", "sales_alert", "webhook", "push", "in_app"]
CUSTOMER_CHANNELS: frozenset[str] = frozenset({"email", "sms", "push"})  # reach the person (consent, caps...)
Stage = Literal["prospect", "new", "active", "loyal", "at_risk", "dormant", "churned"]
# Derived values the engine computes from (profile, product of the trigger event); see scenarios.conditions.fact_value.
Fact = Literal[
    "product_view_count", "product_in_cart", "cart_item_count", "cart_value", "bought_product", "message_opened"
]
TemplateNeed = Literal["related_products", "coupon_code"]

_ID = r"^[a-z0-9][a-z0-9_\-]*$"
_FIELD_ROOTS = ("event.", "profile.", "context.", "fact.")

# --------------------------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------------------------


class _Model(BaseModel):
    # Marketers edit these files by hand: an unknown key is far more likely a typo than a feature.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Condition(_Model):
    """One test on a value. `field` is a dotted path rooted at:

    - `event.` the triggering event (`event.properties.product_id`, `event.event`...),
    - `profile.` the profile JSON (`profile.stage`, `profile.scores.engagement`, `profile.traits.country`...),
    - `context.` what the run remembered from its trigger (the trigger event's scalar properties),
    - `fact.` a derived value: `product_view_count`, `product_in_cart` (for the trigger's `product_id`),
      `cart_item_count`, `cart_value`, `bought_product` (the event, an order, lists the run's `product_id`),
      `message_opened` (a message this run sent was opened or clicked by a human: "email, then in-app if not opened").

    Operators mean what they mean in segment rules: strings compare without case (`profile.demographics.state eq
    "ca"` matches "CA"), numbers numerically (a numeric string too, against a number), two strings are ordered by
    their case-folded text, true/false equals only true/false, and an empty text, list or map does not `exist`.
    A missing value never matches except with `not_exists` / `ne` / `not_in` / `not_contains`.
    """

    field: str = Field(
        examples=["event.properties.product_id", "profile.stage", "fact.product_view_count"],
        json_schema_extra={"pattern": r"^(event|profile|context|fact)(\.[^.]+)+$"},
    )
    op: Operator = "eq"
    value: Any = None

    @field_validator("field")
    @classmethod
    def _rooted(cls, value: str) -> str:
        if not value.startswith(_FIELD_ROOTS) or value.endswith(".") or ".." in value:
            raise ValueError(f"field must be a dotted path starting with one of {', '.join(_FIELD_ROOTS)}")
        if value.startswith("fact.") and value.removeprefix("fact.") not in Fact.__args__:  # type: ignore[attr-defined]
            raise ValueError(f"unknown fact; known: {', '.join(Fact.__args__)}")  # type: ignore[attr-defined]
        return value

    @model_validator(mode="after")
    def _value_shape(self) -> Condition:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs a list value")
        return self


class Audience(_Model):
    """Who: a segment id, or an inline segment rule (kept opaque here and validated by the segment rule model)."""

    segment: str | None = None
    rule: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Audience:
        if (self.segment is None) == (self.rule is None):
            raise ValueError("give exactly one of 'segment' or 'rule'")
        return self


class EventTrigger(_Model):
    """Fires on a tracked event with this name whose conditions (all) hold."""

    type: Literal["event"]
    event: str = Field(min_length=1, examples=["Product Added"])
    conditions: list[Condition] = Field(default_factory=list)


class SegmentTrigger(_Model):
    """Fires when the profile enters / leaves a segment."""

    type: Literal["segment_entered", "segment_exited"]
    segment: str = Field(min_length=1)
    include_existing: bool = Field(
        default=False,
        description="Also fire for the members (or leavers) a backfill finds among existing profiles when the segment"
        " is created or changed; by default only people who enter or leave through their own activity or time",
    )


class StageTrigger(_Model):
    """Fires when the lifecycle stage changes to `to` (optionally only from `from`)."""

    type: Literal["stage_changed"]
    to: Stage
    from_: Stage | None = Field(default=None, alias="from")


class ScoreTrigger(_Model):
    """Fires when a named score threshold (e.g. `mql`) is crossed in `direction`."""

    type: Literal["score_crossed"]
    threshold: str = Field(min_length=1, examples=["mql"])
    direction: Literal["up", "down"] = "up"


class ScheduleTrigger(_Model):
    """Fires for every member of `who` at each cron time (5 fields, evaluated in `timezone`)."""

    type: Literal["schedule"]
    cron: str = Field(examples=["0 10 * * 1"])
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        parse_cron(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_tz(cls, value: str) -> str:
        return valid_timezone(value)


Interest = Literal["viewed", "carted", "wishlisted"]
CATALOG_TRIGGER_TYPES = frozenset({"back_in_stock", "price_drop", "low_stock"})


def _every_interest() -> list[Interest]:
    return ["viewed", "carted", "wishlisted"]


class _CatalogTrigger(_Model):
    """Fires for the people who showed `interest` in a product within `within` when the catalog changes it: one
    run per person and change, started through the interest index (never a scan of profiles), paced by the catalog
    fan-out cap. People who bought the product since are no longer in the index."""

    interest: list[Interest] = Field(
        default_factory=_every_interest,
        min_length=1,
        description="Which signs count: viewed (Product Viewed), carted (Product Added), wishlisted (Product Added "
        "to Wishlist).",
    )
    within: Duration = Field(default="90d", description="How recent the interest must be (at most 365d).")

    @field_validator("within")
    @classmethod
    def _window(cls, value: str) -> str:
        value = duration_field(value)
        if parse_duration(value) > timedelta(days=365):
            raise ValueError("within: at most 365d (interest is kept no longer)")
        return value

    @property
    def window(self) -> timedelta:
        return parse_duration(self.within)


class BackInStockTrigger(_CatalogTrigger):
    """A product that could not be bought can be again (stock from 0 to more, or availability back in stock)."""

    type: Literal["back_in_stock"]


class LowStockTrigger(_CatalogTrigger):
    """ "Nearly gone": the stock falls under `below` (and is still above 0) from `below` or more."""

    type: Literal["low_stock"]
    below: int = Field(gt=0, examples=[5])


class PriceDropTrigger(_CatalogTrigger):
    """The price falls by at least `percent` and/or `amount` (both must hold when both are given) below the highest
    price of the last `compared_to` (from the price history, so small steps add up); fires once, when a change first
    crosses the threshold."""

    type: Literal["price_drop"]
    percent: float | None = Field(default=None, gt=0, lt=100)
    amount: float | None = Field(default=None, gt=0, description="In the product's currency.")
    compared_to: Duration = Field(default="30d", description="Window of the reference (highest) price.")

    @field_validator("compared_to")
    @classmethod
    def _parse(cls, value: str) -> str:
        return duration_field(value)

    @model_validator(mode="after")
    def _threshold(self) -> PriceDropTrigger:
        if self.percent is None and self.amount is None:
            raise ValueError("give 'percent' and/or 'amount'")
        return self


Trigger = Annotated[
    EventTrigger
    | SegmentTrigger
    | StageTrigger
    | ScoreTrigger
    | ScheduleTrigger
    | BackInStockTrigger
    | LowStockTrigger
    | PriceDropTrigger,
    Field(discriminator="type"),
]


class Variant(_Model):
    """One arm of an A/B test: a template and its relative weight."""

    id: str = Field(pattern=_ID)
    template: str = Field(min_length=1)
    weight: float = Field(default=1, gt=0)


class _StepBase(_Model):
    id: str | None = Field(default=None, pattern=_ID, description="Name for goto targets and analytics.")
    next: str | None = Field(default=None, description="Step id to continue with (default: the following step).")


class WaitStep(_StepBase):
    """Pause the run for `duration` (e.g. `1h`, `3d`)."""

    type: Literal["wait"]
    duration: Duration

    @field_validator("duration")
    @classmethod
    def _parse(cls, value: str) -> str:
        return duration_field(value)


class SendTime(_Model):
    """Send-time optimisation: deliver at the local hour this person usually opens and clicks (human ones only),
    at most `within` after the step comes due. With fewer than `min_events` recent engagements on the channel (older
    ones count less: they fade with a 60-day half-life), at `fallback_hour` local time. A deterministic
    `control_share` of runs is sent at once instead, so the report can tell whether the timing helped. Quiet hours,
    caps and every other guard still apply when the deferred send comes due; a message is deferred for its send time
    once at most."""

    optimise: bool = Field(default=True, description="False keeps the setting but sends at once (no arms).")
    within: Duration = Field(default="24h", description="Latest send time after the step comes due: 1h to 7d.")
    fallback_hour: int = Field(default=10, ge=0, le=23, description="Local hour (0-23) when history is too thin.")
    min_events: int = Field(default=3, ge=0, description="Engagements needed before the history is trusted.")
    control_share: float = Field(default=0.1, ge=0, le=0.5, description="Share of runs sent at once (control arm).")

    @field_validator("within")
    @classmethod
    def _window(cls, value: str) -> str:
        value = duration_field(value)
        if not timedelta(hours=1) <= parse_duration(value) <= timedelta(days=7):
            raise ValueError("'within' must be between 1h and 7d")
        return value

    @property
    def window(self) -> timedelta:
        return parse_duration(self.within)


class UpliftTarget(_Model):
    """Send only to those the message is predicted to move (the scenario's uplift model, a T-learner fitted on its
    own treated and holdout runs): the top `uplift_top_share` of people by predicted uplift, or those whose predicted
    uplift is at least `uplift_min` (a probability difference, e.g. 0.02). Others are skipped as `low_uplift`.
    Until the scenario has an uplift model everyone is sent to (holdout runs still measure it)."""

    uplift_top_share: float | None = Field(default=None, gt=0, le=1, description="Share of people to send to, 0-1.")
    uplift_min: float | None = Field(default=None, ge=-1, le=1, description="Least predicted uplift to send.")

    @model_validator(mode="after")
    def _one_rule(self) -> UpliftTarget:
        if (self.uplift_top_share is None) == (self.uplift_min is None):
            raise ValueError("give one of 'uplift_top_share' and 'uplift_min'")
        return self


class SendStep(_StepBase):
    """Send one message. What: `template` or weighted `variants`. How: `channel` (+ `topic` for sales_alert, `url` for
    webhook). `needs` lists context the delivery service must supply; `params` are static template values."""

    type: Literal["send"]
    channel: Channel
    template: str | None = None
    variants: list[Variant] = Field(default_factory=list)
    topic: str | None = Field(default=None, description="sales_alert: logical SNS topic name, e.g. 'sales'.")
    url: str | None = Field(default=None, description="webhook: https URL to POST to.")
    needs: list[TemplateNeed] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    marketing: bool | None = Field(default=None, description="Overrides the scenario's `marketing` for this send.")
    send_time: SendTime | None = Field(default=None, description="Send-time optimisation (email and sms only).")
    target: UpliftTarget | None = Field(default=None, description="Send only to those predicted to be moved.")

    @model_validator(mode="after")
    def _what_and_how(self) -> SendStep:
        if self.template is not None and self.variants:
            raise ValueError("give 'template' or 'variants', not both")
        if self.template is None and not self.variants and self.channel != "webhook":
            raise ValueError(f"channel {self.channel!r} needs 'template' or 'variants'")
        ids = [v.id for v in self.variants]
        if len(set(ids)) != len(ids):
            raise ValueError("variant ids must be unique")
        if self.channel == "sales_alert" and not self.topic:
            raise ValueError("channel 'sales_alert' needs 'topic'")
        if self.channel == "webhook" and not (self.url or "").startswith("https://"):
            raise ValueError("channel 'webhook' needs an https 'url'")
        if self.channel != "sales_alert" and self.topic:
            raise ValueError("'topic' is only for channel 'sales_alert' (the preference topic is scenario-level)")
        if self.channel != "webhook" and self.url:
            raise ValueError("'url' is only for channel 'webhook'")
        if self.send_time is not None and self.channel not in CUSTOMER_CHANNELS:
            raise ValueError("'send_time' is only for channels that reach the person ('email', 'sms')")
        return self

    @property
    def effective_variants(self) -> list[Variant]:
        """The variants to choose from; a single `template` is one variant called `default`."""
        if self.variants:
            return list(self.variants)
        return [Variant(id="default", template=self.template)] if self.template else []


class SplitStep(_StepBase):
    """Yes/no branch: `yes` when all `conditions` hold, else `no` (a step id; omitted = the following step)."""

    type: Literal["split"]
    conditions: list[Condition] = Field(min_length=1)
    yes: str | None = None
    no: str | None = None


class RandomBranch(_Model):
    percent: float = Field(gt=0, le=100)
    goto: str | None = Field(default=None, description="Step id; omitted = the following step.")


class RandomSplitStep(_StepBase):
    """Random branch by percentages (must total 100), stable per profile (hash of scenario, profile, step)."""

    type: Literal["random_split"]
    branches: list[RandomBranch] = Field(min_length=2)

    @model_validator(mode="after")
    def _total(self) -> RandomSplitStep:
        if abs(sum(b.percent for b in self.branches) - 100) > 1e-6:
            raise ValueError("branch percents must total 100")
        return self


class EndStep(_StepBase):
    """Finish the run (used to close a branch)."""

    type: Literal["end"]


Step = Annotated[WaitStep | SendStep | SplitStep | RandomSplitStep | EndStep, Field(discriminator="type")]


class ExitCondition(_Model):
    """Leave the run early. Exactly one of:

    - `event`: an event with this name (and `conditions` on it) happened after the run started;
    - `left_segment`: the profile is no longer in this segment;
    - `left_audience: true`: the profile no longer matches the scenario's `who`;
    - `profile`: all these conditions hold now (e.g. `fact.cart_item_count eq 0`).
    """

    event: str | None = None
    conditions: list[Condition] = Field(default_factory=list, description="Filters on `event`.")
    left_segment: str | None = None
    left_audience: bool = False
    profile: list[Condition] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ExitCondition:
        given = [self.event is not None, self.left_segment is not None, self.left_audience, self.profile is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of 'event', 'left_segment', 'left_audience' or 'profile'")
        if self.conditions and self.event is None:
            raise ValueError("'conditions' only apply to 'event'")
        return self


class ReentryAfter(_Model):
    """Re-enter once `after` has passed since the previous entry started."""

    after: Duration

    @field_validator("after")
    @classmethod
    def _parse(cls, value: str) -> str:
        return duration_field(value)


Reentry = Literal["once", "always"] | ReentryAfter


class Scenario(_Model):
    """A one-to-one journey: who, when (trigger), what/how (steps), when to stop (exit), how often (reentry)."""

    schema_: str | None = Field(default=None, alias="$schema", exclude=True, description="Editor hint; ignored.")
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    description: str = ""
    enabled: bool = True
    who: Audience | None = Field(default=None, description="Audience; omitted = every profile.")
    when: Trigger
    steps: list[Step] = Field(min_length=1)
    exit: list[ExitCondition] = Field(default_factory=list, description="Any one of these ends the run.")
    reentry: Reentry = "once"
    holdout_percent: float = Field(default=0, ge=0, lt=100)
    marketing: bool = Field(
        default=True, description="True: needs consent + unsubscribe headers. False: transactional."
    )
    topic: str | None = Field(default=None, description="Preference-centre topic a person can opt out of.")
    # Which stored version this is (0: the packaged file; None: not from the definitions store). Private: not part of
    # the file format; runs record it so a run in flight finishes on the version it started on.
    _definition_version: int | None = PrivateAttr(default=None)

    @property
    def definition_version(self) -> int | None:
        return self._definition_version

    def at_version(self, version: int | None) -> Scenario:
        """This scenario marked as `version` of its definition (returns self)."""
        self._definition_version = version
        return self

    @model_validator(mode="after")
    def _flow(self) -> Scenario:
        _check_flow(self.steps)
        if self.when.type == "schedule" and self.who is None:
            raise ValueError("a 'schedule' trigger needs 'who' (the audience to enumerate)")
        if self.when.type == "schedule" and self.who is not None and self.who.segment is None:
            # Firing enumerates the audience from the segment membership index; an inline rule has none and would
            # mean evaluating every profile at each fire time.
            raise ValueError("a 'schedule' trigger needs 'who.segment' (an inline rule cannot be enumerated)")
        return self

    def step_index(self, step_id: str) -> int:
        """Index of the step with this id (KeyError when unknown)."""
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        raise KeyError(step_id)

    @property
    def reentry_after(self) -> timedelta | None:
        """The re-entry delay, when `reentry` is `{after: ...}`."""
        return parse_duration(self.reentry.after) if isinstance(self.reentry, ReentryAfter) else None

    def send_steps(self) -> Iterable[tuple[int, SendStep]]:
        """(index, step) for every send step."""
        return ((i, s) for i, s in enumerate(self.steps) if isinstance(s, SendStep))


def _successors(steps: list[Any], i: int) -> list[str | int | None]:
    """Targets reachable from step i: step ids, the next index, or None (= run ends)."""
    step = steps[i]
    following: int | None = i + 1 if i + 1 < len(steps) else None
    default: str | int | None = step.next if step.next is not None else following
    if isinstance(step, EndStep):
        return []
    if isinstance(step, SplitStep):
        return [step.yes if step.yes is not None else default, step.no if step.no is not None else default]
    if isinstance(step, RandomSplitStep):
        return [b.goto if b.goto is not None else default for b in step.branches]
    return [default]


def _check_flow(steps: list[Any]) -> None:
    ids = [s.id for s in steps if s.id is not None]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate step ids: {', '.join(dupes)}")
    index = {s.id: n for n, s in enumerate(steps) if s.id is not None}
    graph: dict[int, list[int]] = {}
    for n in range(len(steps)):
        targets: list[int] = []
        for t in _successors(steps, n):
            if isinstance(t, str):
                if t not in index:
                    raise ValueError(f"steps[{n}]: unknown step id {t!r}")
                targets.append(index[t])
            elif isinstance(t, int):
                targets.append(t)
        graph[n] = targets
    # A cycle would let a run loop forever (or spam when the loop has no wait); flows must be acyclic.
    state: dict[int, int] = {}

    def visit(n: int) -> None:
        state[n] = 1
        for m in graph[n]:
            if state.get(m) == 1:
                raise ValueError(f"steps[{n}]: goto creates a cycle back to steps[{m}]")
            if m not in state:
                visit(m)
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n)
