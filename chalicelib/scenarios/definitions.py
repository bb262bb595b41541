"""Scenario definitions (who / when / what / how) as pydantic-validated data, their loader, tolerant profile accessors.

A scenario file is one JSON (or YAML) object validated by `Scenario`. Steps are a FLAT list; control flow is by step id:

- every step may carry an `id` and a `next` (id of the step to run after it; default: the following step);
- `split` jumps to `yes` / `no` (a step id; omitted = carry on with the following step);
- `random_split` jumps to the `goto` of the branch picked by a deterministic hash;
- `end` stops the run.

A flat list keeps the persisted run state a single integer (`ScenarioRun.step_index`) and still expresses branches and
joins; the loader rejects unknown ids and cycles, so a run always finishes.

Nothing here performs I/O except `load_scenarios`, which reads the packaged config directory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# --------------------------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------------------------

Channel = Literal["email", "sms", "sales_alert", "webhook"]
CUSTOMER_CHANNELS: frozenset[str] = frozenset({"email", "sms"})  # channels that reach the person (consent, caps...)
Stage = Literal["prospect", "new", "active", "loyal", "at_risk", "dormant", "churned"]
TransitionKind = Literal["segment_entered", "segment_exited", "stage_changed", "score_crossed", "cart_changed"]
Operator = Literal[
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "not_contains", "exists", "not_exists"
]
# Derived values the engine computes from (profile, product of the trigger event); see scenario_engine.fact_value.
Fact = Literal["product_view_count", "product_in_cart", "cart_item_count", "cart_value"]
TemplateNeed = Literal["related_products", "coupon_code"]

_ID = r"^[a-z0-9][a-z0-9_\-]*$"
_DURATION_RE = re.compile(r"^(?:\d+[wdhms])+$")
_DURATION_PART_RE = re.compile(r"(\d+)([wdhms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_FIELD_ROOTS = ("event.", "profile.", "context.", "fact.")


def valid_timezone(value: str) -> str:
    """`value` if it names an IANA time zone, else ValueError (shared by every config field holding a zone)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


class ScenarioConfigError(ValueError):
    """A scenario file is invalid. The message names the file and the field path, e.g.
    `cart_abandonment.json: steps[1].send.variants[0].template: unknown template 'cart_reminder_v9'`."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.detail = message
        super().__init__(f"{source}: {path}: {message}" if path else f"{source}: {message}")


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as `30m`, `1h`, `3d`, `2w` or a compound `1d12h` into a timedelta.

    Raises ValueError on anything else (no months/years: their length is ambiguous)."""
    if not isinstance(text, str) or not _DURATION_RE.match(text.strip()):
        raise ValueError(f"invalid duration {text!r}; use e.g. '30m', '1h', '3d', '2w' or '1d12h'")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART_RE.findall(text.strip()))
    return timedelta(seconds=seconds)


def _duration_field(value: str) -> str:
    parse_duration(value)
    return value.strip()


Duration = Annotated[str, Field(pattern=r"^(?:\d+[wdhms])+$", examples=["30m", "1h", "3d", "1d12h"])]

# --------------------------------------------------------------------------------------------------------------------
# Cron (standard 5 fields, evaluated in the trigger's time zone)
# --------------------------------------------------------------------------------------------------------------------

_CRON_LIMITS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))  # minute hour day-of-month month day-of-week(0/7=Sun)


def _parse_cron_field(text: str, lo: int, hi: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in {part!r}")
        if body == "*":
            start, stop = lo, hi
        elif "-" in body:
            a, b = body.split("-", 1)
            start, stop = int(a), int(b)
        else:
            start = int(body)
            stop = hi if step_text else start
        if not (lo <= start <= stop <= hi):
            raise ValueError(f"{part!r} outside {lo}-{hi}")
        values.update(range(start, stop + 1, step))
    return frozenset(values)


def parse_cron(expr: str) -> tuple[frozenset[int], ...]:
    """Parse `minute hour day-of-month month day-of-week` (`*`, lists, ranges, `*/n`; numeric only).

    Returns the five sets of allowed values. Raises ValueError with the offending field."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"cron {expr!r} must have 5 fields (minute hour day-of-month month day-of-week)")
    try:
        parsed = tuple(_parse_cron_field(f, lo, hi) for f, (lo, hi) in zip(fields, _CRON_LIMITS, strict=True))
    except ValueError as exc:
        raise ValueError(f"cron {expr!r}: {exc}") from None
    dow = parsed[4]
    if 7 in dow:  # 7 is Sunday too
        parsed = (*parsed[:4], frozenset(dow - {7} | {0}))
    return parsed


def cron_sets_match(sets: tuple[frozenset[int], ...], local_dt: datetime) -> bool:
    """True when the local minute `local_dt` is a fire time of the parsed cron `sets` (see `parse_cron`).

    Follows Vixie cron: when both day-of-month and day-of-week are restricted, either may match."""
    minute, hour, dom, month, dow = sets
    if local_dt.minute not in minute or local_dt.hour not in hour or local_dt.month not in month:
        return False
    cron_dow = (local_dt.weekday() + 1) % 7  # Python Monday=0 -> cron Sunday=0
    if len(dom) == 31 or len(dow) == 7:
        return local_dt.day in dom and cron_dow in dow
    return local_dt.day in dom or cron_dow in dow


def cron_matches(expr: str, local_dt: datetime) -> bool:
    """True when the (local, already converted) minute `local_dt` is a fire time of `expr`."""
    return cron_sets_match(parse_cron(expr), local_dt)


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
      `cart_item_count`, `cart_value`.

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


Trigger = Annotated[
    EventTrigger | SegmentTrigger | StageTrigger | ScoreTrigger | ScheduleTrigger, Field(discriminator="type")
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
        return _duration_field(value)


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
        return _duration_field(value)


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

    @model_validator(mode="after")
    def _flow(self) -> Scenario:
        _check_flow(self.steps)
        if self.when.type == "schedule" and self.who is None:
            raise ValueError("a 'schedule' trigger needs 'who' (the audience to enumerate)")
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


# --------------------------------------------------------------------------------------------------------------------
# Loading and reference checks
# --------------------------------------------------------------------------------------------------------------------

SCENARIO_SUFFIXES = (".json", ".yaml", ".yml")


def _loc_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate one scenario object. Raises ScenarioConfigError(source, field path, message) on the first error."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        message = err["msg"].removeprefix("Value error, ")
        raise ScenarioConfigError(source, _loc_path(err["loc"]), message) from None


def _conditions_segments(conditions: Iterable[Condition]) -> Iterable[tuple[str, str]]:
    # Conditions like `profile.segments contains X` name a segment too; check them so a typo does not silently
    # make a split always-false.
    for n, c in enumerate(conditions):
        if c.field == "profile.segments" and c.op in ("contains", "not_contains") and isinstance(c.value, str):
            yield f"[{n}].value", c.value


def check_references(
    scenario: Scenario,
    source: str,
    known_segments: Collection[str],
    known_templates: Collection[str],
    template_channels: Mapping[str, Collection[str]] | None = None,
) -> None:
    """Raise ScenarioConfigError when the scenario names a segment or template that does not exist, or (when
    `template_channels` maps template id -> channels it has a body for) a template lacking the step's channel."""

    def fail(path: str, message: str) -> None:
        raise ScenarioConfigError(source, path, message)

    if scenario.who and scenario.who.segment is not None and scenario.who.segment not in known_segments:
        fail("who.segment", f"unknown segment {scenario.who.segment!r}")
    when = scenario.when
    if isinstance(when, SegmentTrigger) and when.segment not in known_segments:
        fail(f"when.{when.type}.segment", f"unknown segment {when.segment!r}")
    for n, ex in enumerate(scenario.exit):
        if ex.left_segment is not None and ex.left_segment not in known_segments:
            fail(f"exit[{n}].left_segment", f"unknown segment {ex.left_segment!r}")
        for sub, seg in _conditions_segments(ex.profile or []):
            if seg not in known_segments:
                fail(f"exit[{n}].profile{sub}", f"unknown segment {seg!r}")
    for i, step in enumerate(scenario.steps):
        if isinstance(step, SplitStep):
            for sub, seg in _conditions_segments(step.conditions):
                if seg not in known_segments:
                    fail(f"steps[{i}].split.conditions{sub}", f"unknown segment {seg!r}")
        if not isinstance(step, SendStep):
            continue
        targets = (
            [(f"steps[{i}].send.template", step.template)]
            if step.template
            else [(f"steps[{i}].send.variants[{j}].template", v.template) for j, v in enumerate(step.variants)]
        )
        for path, template in targets:
            if template not in known_templates:
                fail(path, f"unknown template {template!r}")
            if template_channels is not None:
                have = template_channels.get(template, ())
                if step.channel not in have:
                    fail(path, f"template {template!r} has no {step.channel} body (has: {', '.join(sorted(have))})")


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioConfigError(path.name, f"line {exc.lineno}", f"invalid JSON: {exc.msg}") from None
    import yaml  # lazy: only when someone ships YAML scenarios

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioConfigError(path.name, "", f"invalid YAML: {exc}") from None


def load_scenarios(
    directory: str | Path,
    known_segments: Collection[str],
    known_templates: Collection[str],
    *,
    template_channels: Mapping[str, Collection[str]] | None = None,
) -> list[Scenario]:
    """Load and validate every `*.json` / `*.yaml` scenario in `directory` (sorted by file name).

    Parameters
    ----------
    directory: folder of scenario files (one scenario per file).
    known_segments: ids of defined segments; `who`, segment triggers and `left_segment` must name one.
    known_templates: ids in the template catalogue; every send template must name one.
    template_channels: optional template id -> channels with a body, to also check channel/template fit.

    Returns
    -------
    The scenarios, enabled or not (callers filter on `enabled`).

    Raises
    ------
    ScenarioConfigError naming the file and the field path of the first problem, or a duplicate scenario id.
    """
    seen: dict[str, str] = {}
    scenarios: list[Scenario] = []
    for path in sorted(Path(directory).iterdir()):
        if path.suffix not in SCENARIO_SUFFIXES or not path.is_file():
            continue
        scenario = parse_scenario(_read(path), source=path.name)
        check_references(scenario, path.name, known_segments, known_templates, template_channels)
        if scenario.id in seen:
            raise ScenarioConfigError(
                path.name, "id", f"duplicate scenario id {scenario.id!r} (also in {seen[scenario.id]})"
            )
        seen[scenario.id] = path.name
        scenarios.append(scenario)
    return scenarios


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema users read (and editors validate against) for one scenario file."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "scenario.schema.json"  # same convention as local/gen_schemas.py
    return schema


# --------------------------------------------------------------------------------------------------------------------
# Profile accessors: the profile arrives as its JSON dict; every key may be missing or oddly typed.
# --------------------------------------------------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def to_number(value: Any) -> float | None:
    """A float from int/float/Decimal/numeric string; None otherwise (bool is not a number here)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


def profile_id(profile: Mapping[str, Any]) -> str:
    """The profile id ('' when missing)."""
    return str(profile.get("profile_id") or "")


def traits(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The traits dict ({} when missing)."""
    return _dict(profile.get("traits"))


def computed(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The computed dict ({} when missing)."""
    return _dict(profile.get("computed"))


def email_address(profile: Mapping[str, Any]) -> str | None:
    """The deliverable-looking email (top-level `email`, else `traits.email`), lower-cased; None when absent."""
    for value in (profile.get("email"), traits(profile).get("email")):
        if isinstance(value, str) and "@" in value.strip() and " " not in value.strip():
            return value.strip().lower()
    return None


def phone_number(profile: Mapping[str, Any]) -> str | None:
    """The phone (top-level `phone`, else `traits.phone`) when it has at least 7 digits; None otherwise."""
    for value in (profile.get("phone"), traits(profile).get("phone")):
        if isinstance(value, str) and sum(ch.isdigit() for ch in value) >= 7:
            return value.strip()
    return None


def demographics(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The normalized demographics dict ({} when missing)."""
    return _dict(profile.get("demographics"))


def first_name(profile: Mapping[str, Any], fallback: str = "there") -> str:
    """`traits.firstName` (or `first_name`), else `demographics.first_name`, else the fallback."""
    t = traits(profile)
    for value in (t.get("firstName"), t.get("first_name"), demographics(profile).get("first_name")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return fallback


def consent_status(profile: Mapping[str, Any], channel: str) -> str | None:
    """`consent.<channel>.status` ('opted_in' / 'opted_out' / ...), or None when unknown."""
    status = _dict(_dict(profile.get("consent")).get(channel)).get("status")
    return status if isinstance(status, str) else None


def timezone_name(profile: Mapping[str, Any]) -> str | None:
    """The recipient's IANA time zone name from traits, demographics or the top level; None when absent."""
    for value in (traits(profile).get("timezone"), demographics(profile).get("timezone"), profile.get("timezone")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def segments(profile: Mapping[str, Any]) -> set[str]:
    """The segment ids the profile is currently in."""
    return {s for s in _list(profile.get("segments")) if isinstance(s, str)}


def stage(profile: Mapping[str, Any]) -> str | None:
    """The lifecycle stage, or None."""
    value = profile.get("stage")
    return value if isinstance(value, str) else None


def cart_items(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`computed.cart` items that are dicts (each has product_id, name, price, quantity, url, image_url)."""
    return [item for item in _list(computed(profile).get("cart")) if isinstance(item, dict)]


def viewed_products(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`computed.viewed_products` as dicts, most recent first as stored; bare ids become `{"product_id": id}`."""
    raw = computed(profile).get("viewed_products")
    if isinstance(raw, dict):  # tolerate a {product_id: view count} map
        return [{"product_id": str(k), "views": v} for k, v in raw.items()]
    out: list[dict[str, Any]] = []
    for item in _list(raw):
        if isinstance(item, dict):
            out.append(item)
        elif isinstance(item, str | int):
            out.append({"product_id": str(item)})
    return out


def lifetime_value(profile: Mapping[str, Any]) -> float:
    """Customer value for the budget guard: `ltv`, else `revenue`, else `computed.revenue`; 0 when unknown."""
    for value in (profile.get("ltv"), profile.get("revenue"), computed(profile).get("revenue")):
        number = to_number(value)
        if number is not None:
            return max(number, 0.0)
    return 0.0
