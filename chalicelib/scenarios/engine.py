"""Pure scenario decisions: which scenarios a trigger starts, what a run does next, when it exits, when it may re-enter.

Inputs are plain data: the profile JSON dict (after the triggering event was folded into it), `TrackedEvent`s, and
the profile's `Transition`s (`{kind, name, from, to, at}`, as the fold stores them). Outputs are values
(`TriggerMatch`, actions, `ScenarioRun`) that the service layer persists and executes. No clock: callers pass `now`.
Conditions are evaluated by `scenarios.conditions`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

import msgspec
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.profiles.model import Transition
from chalicelib.profiles.view import profile_id, segments, to_number
from chalicelib.scenarios import assignment
from chalicelib.scenarios.conditions import evaluate_all
from chalicelib.scenarios.definitions import (
    EndStep,
    EventTrigger,
    RandomSplitStep,
    ReentryAfter,
    Scenario,
    ScheduleTrigger,
    ScoreTrigger,
    SegmentTrigger,
    SendStep,
    SplitStep,
    StageTrigger,
    WaitStep,
)
from chalicelib.scenarios.schedule import cron_sets_match, parse_cron, parse_duration
from chalicelib.tracking.events import TrackedEvent, iso

RuleMatcher = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
"""(inline rule dict, profile) -> member? Supplied by the segment module; used for inline `who.rule` audiences."""

# --------------------------------------------------------------------------------------------------------------------
# Trigger inputs
# --------------------------------------------------------------------------------------------------------------------


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise ValueError("expected an ISO-8601 timestamp")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def as_transition(data: Transition | Mapping[str, Any]) -> Transition:
    """The profile's `Transition` from itself or its dict form (`from` or `from_`; `at` an ISO string or a datetime).

    Example:
        >>> as_transition({"kind": "stage_changed", "from": "new", "to": "active", "at": "2026-03-02T12:00:00.000Z"})
        Transition(kind='stage_changed', name=None, from_='new', to='active', at='2026-03-02T12:00:00.000Z', version=0)
    """
    if isinstance(data, Transition):
        return data
    payload = dict(data)
    if "from_" in payload and "from" not in payload:
        payload["from"] = payload.pop("from_")
    if isinstance(payload.get("at"), datetime):
        payload["at"] = iso(_aware(payload["at"]))
    return msgspec.convert(payload, Transition)


def crossed_up(transition: Transition) -> bool:
    """Direction of a score crossing. `to` may be 'above'/'up', or from_/to may be the scores. Unknown shapes count
    as upward: the fold only emits a crossing when a threshold is passed, and upward is the norm."""
    if transition.to in ("below", "down"):
        return False
    if transition.to in ("above", "up"):
        return True
    before, after = to_number(transition.from_), to_number(transition.to)
    if before is not None and after is not None:
        return after > before
    return True


@dataclass(frozen=True)
class ScheduleTick:
    """The scheduler's heartbeat for one minute: schedule triggers whose cron matches `at` fire."""

    at: datetime


TriggerInput = TrackedEvent | Transition | ScheduleTick | Mapping[str, Any]


class TriggerMatch(NamedTuple):
    """A scenario to start, with the deterministic id of this trigger instance (duplicates collapse on it)."""

    scenario: Scenario
    trigger_id: str


def _normalize(trigger: TriggerInput) -> TrackedEvent | Transition | ScheduleTick:
    if isinstance(trigger, TrackedEvent | Transition | ScheduleTick):
        return trigger
    return as_transition(trigger)


def _minute(dt: datetime) -> datetime:
    return _aware(dt).astimezone(UTC).replace(second=0, microsecond=0)


def trigger_instance_id(scenario: Scenario, trigger: TriggerInput) -> str:
    """Deterministic id: `{scenario}:evt:{source}#{message}` for events (a replayed message collapses),
    `{scenario}:{kind}:{name}:{to}:{at}` for transitions, `{scenario}:schedule:{minute}` for ticks.
    Unique per profile; the run key is (profile_id, trigger_id)."""
    item = _normalize(trigger)
    if isinstance(item, TrackedEvent):
        return f"{scenario.id}:evt:{item.key}"
    if isinstance(item, ScheduleTick):
        return f"{scenario.id}:schedule:{iso(_minute(item.at))}"
    return (
        f"{scenario.id}:{item.kind}:{item.name or ''}:{item.to if item.to is not None else ''}:{iso(_aware(item.at))}"
    )


def trigger_context(trigger: TriggerInput) -> tuple[datetime, dict[str, Any]]:
    """(when it happened, what the run should remember): the event's scalar properties (e.g. product_id) so later
    steps, splits and exit conditions can refer to `context.*` and product facts."""
    item = _normalize(trigger)
    if isinstance(item, TrackedEvent):
        scalars = {
            k: v for k, v in item.properties.items() if isinstance(v, str | int | float | bool) and len(str(v)) <= 512
        }
        return _aware(item.timestamp), {"event": item.event, **scalars}
    if isinstance(item, ScheduleTick):
        return _minute(item.at), {}
    return _aware(item.at), {"kind": item.kind, "name": item.name, "from": item.from_, "to": item.to}


# --------------------------------------------------------------------------------------------------------------------
# Matching triggers
# --------------------------------------------------------------------------------------------------------------------


def in_audience(scenario: Scenario, profile: Mapping[str, Any], rule_matcher: RuleMatcher | None = None) -> bool | None:
    """Whether the profile is in the scenario's `who`: True without `who`; segment membership from
    `profile.segments`; an inline rule through `rule_matcher`, or None (unknown) when none is given."""
    who = scenario.who
    if who is None:
        return True
    if who.segment is not None:
        return who.segment in segments(profile)
    if rule_matcher is None or who.rule is None:
        return None
    return bool(rule_matcher(who.rule, profile))


def _trigger_fires(
    scenario: Scenario, item: TrackedEvent | Transition | ScheduleTick, profile: Mapping[str, Any]
) -> bool:
    when = scenario.when
    if isinstance(when, EventTrigger):
        return (
            isinstance(item, TrackedEvent)
            and not item.is_bot
            and not item.unverified
            and item.type == "track"
            and item.event == when.event
            and evaluate_all(when.conditions, profile=profile, event=item)
        )
    if isinstance(when, ScheduleTrigger):
        if not isinstance(item, ScheduleTick):
            return False
        from zoneinfo import ZoneInfo

        return cron_sets_match(parse_cron(when.cron), _minute(item.at).astimezone(ZoneInfo(when.timezone)))
    if not isinstance(item, Transition):
        return False
    if isinstance(when, SegmentTrigger):
        return item.kind == when.type and item.name == when.segment
    if isinstance(when, StageTrigger):
        return item.kind == "stage_changed" and item.to == when.to and (when.from_ is None or item.from_ == when.from_)
    if isinstance(when, ScoreTrigger):
        # The fold records an upward crossing as `score_crossed` and falling back as `score_dropped`.
        if item.name != when.threshold or item.kind not in ("score_crossed", "score_dropped"):
            return False
        upward = item.kind == "score_crossed" and crossed_up(item)
        return upward == (when.direction == "up")
    return False


def match_triggers(
    scenarios: Iterable[Scenario],
    event_or_transition: TriggerInput,
    profile: Mapping[str, Any],
    *,
    rule_matcher: RuleMatcher | None = None,
) -> list[TriggerMatch]:
    """The enabled scenarios this event / transition / schedule tick starts for this profile.

    The profile must already include the trigger (the engine runs after the fold), so e.g. a 3rd Product Viewed is
    counted in `fact.product_view_count`. Re-entry is NOT checked here (it needs the run history): call
    `reentry_allowed` before starting a run. An inline-rule audience without `rule_matcher` never matches: we do not
    message people we cannot place in the audience.

    Example:
        for scenario, trigger_id in match_triggers(scenarios, event, profile):
            ...
    """
    item = _normalize(event_or_transition)
    matches: list[TriggerMatch] = []
    for scenario in scenarios:
        if not scenario.enabled or not _trigger_fires(scenario, item, profile):
            continue
        if in_audience(scenario, profile, rule_matcher) is not True:
            continue
        matches.append(TriggerMatch(scenario, trigger_instance_id(scenario, item)))
    return matches


def due_schedule_times(scenario: Scenario, after: datetime, until: datetime) -> list[datetime]:
    """UTC minutes in (after, until] at which a schedule scenario fires (at most 7 days are scanned), so a scheduler
    that runs late or irregularly still fires each cron time exactly once. Empty for other triggers."""
    when = scenario.when
    if not isinstance(when, ScheduleTrigger) or not scenario.enabled:
        return []
    from zoneinfo import ZoneInfo

    tz, sets = ZoneInfo(when.timezone), parse_cron(when.cron)
    start = _minute(after) + timedelta(minutes=1)
    end = min(_minute(until), start + timedelta(days=7))
    out: list[datetime] = []
    current = start
    while current <= end:
        if cron_sets_match(sets, current.astimezone(tz)):
            out.append(current)
        current += timedelta(minutes=1)
    return out


# --------------------------------------------------------------------------------------------------------------------
# Runs and the next action
# --------------------------------------------------------------------------------------------------------------------

RunStatus = Literal["active", "completed", "exited", "failed"]


class ScenarioRun(BaseModel):
    """One profile's journey through one scenario, as adapters persist it (key: profile_id + trigger_id).

    `step_index` is the next step to execute, `due_at` when to execute it. Holdout runs walk the same steps (so the
    control group is measured over the same window) but their sends are skipped by the `holdout` guard.
    """

    model_config = ConfigDict(extra="ignore")

    scenario_id: str
    profile_id: str
    trigger_id: str
    step_index: int = Field(default=0, ge=0)
    due_at: datetime
    status: RunStatus = "active"
    variant: str | None = None
    holdout: bool = False
    entered_at: datetime
    updated_at: datetime | None = None
    exit_reason: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    # The scenario definition version the run started on (0 = packaged file); delivery executes that version's steps.
    # None: a run from before versioned definitions, which follows the current definition.
    scenario_version: int | None = None

    @property
    def run_id(self) -> str:
        """Unique per profile and trigger instance; a duplicate trigger maps onto the same run."""
        return f"{self.profile_id}#{self.trigger_id}"

    @property
    def is_active(self) -> bool:
        return self.status == "active"


def start_run(
    scenario: Scenario,
    profile: Mapping[str, Any],
    trigger_id: str,
    now: datetime,
    *,
    entered_at: datetime | None = None,
    context: Mapping[str, Any] | None = None,
) -> ScenarioRun:
    """A new active run at step 0, due now, with holdout and variant assigned deterministically.

    `entered_at` defaults to `now`; pass the trigger time (from `trigger_context`) so exit events are looked for
    from the moment the trigger happened."""
    variants = next((s.effective_variants for _, s in scenario.send_steps() if s.effective_variants), [])
    pid = profile_id(profile)
    decided = assignment.assign(scenario.id, pid, scenario.holdout_percent, variants)
    return ScenarioRun(
        scenario_id=scenario.id,
        profile_id=pid,
        trigger_id=trigger_id,
        due_at=now,
        variant=decided.variant,
        holdout=decided.holdout,
        entered_at=entered_at or now,
        updated_at=now,
        context=dict(context or {}),
        scenario_version=scenario.definition_version,
    )


@dataclass(frozen=True)
class SendAction:
    """Send `template_id` (variant `variant_id`) via `step.channel` now, then continue at `next_index` immediately."""

    step_index: int
    step: SendStep
    variant_id: str | None
    template_id: str | None
    next_index: int
    branches: tuple[str, ...] = ()
    kind: Literal["send"] = "send"


@dataclass(frozen=True)
class WaitAction:
    """Sleep until `until`, then continue at `next_index`."""

    step_index: int
    until: datetime
    next_index: int
    branches: tuple[str, ...] = ()
    kind: Literal["wait"] = "wait"


@dataclass(frozen=True)
class EndAction:
    """The run is finished (`completed`: ran off the end or reached an `end` step)."""

    step_index: int
    branches: tuple[str, ...] = ()
    reason: str = "completed"
    kind: Literal["end"] = "end"


Action = SendAction | WaitAction | EndAction


def _following(scenario: Scenario, i: int) -> int:
    step = scenario.steps[i]
    return scenario.step_index(step.next) if step.next is not None else i + 1


def plan_next(
    scenario: Scenario,
    step_index: int,
    profile: Mapping[str, Any],
    now: datetime,
    *,
    context: Mapping[str, Any] | None = None,
    variant: str | None = None,
    event: TrackedEvent | None = None,
) -> Action:
    """What the run at `step_index` does now. Splits are resolved on the spot (recorded in `branches`, e.g.
    `has_sms:yes`, `ab:1`), so the answer is always a send, a wait or the end.

    `variant` is the run's sticky variant: used when the send step offers it, otherwise the step's own weighted
    deterministic choice. Waits are measured from `now` (the time the step is reached), so a send deferred by quiet
    hours pushes the next reminder back too.
    """
    branches: list[str] = []
    pid = profile_id(profile)
    i = step_index
    for _ in range(len(scenario.steps) + 1):  # the flow is acyclic, so this bound is never the exit in practice
        if i >= len(scenario.steps):
            return EndAction(step_index=i, branches=tuple(branches))
        step = scenario.steps[i]
        name = step.id or str(i)
        if isinstance(step, EndStep):
            return EndAction(step_index=i, branches=tuple(branches))
        if isinstance(step, WaitStep):
            until = now + parse_duration(step.duration)
            return WaitAction(step_index=i, until=until, next_index=_following(scenario, i), branches=tuple(branches))
        if isinstance(step, SendStep):
            options = step.effective_variants
            chosen: str | None = None
            if options:
                ids = [v.id for v in options]
                chosen = variant if variant in ids else assignment.choose_variant(scenario.id, pid, options)
            template = next((v.template for v in options if v.id == chosen), None)
            return SendAction(
                step_index=i,
                step=step,
                variant_id=chosen,
                template_id=template,
                next_index=_following(scenario, i),
                branches=tuple(branches),
            )
        if isinstance(step, SplitStep):
            yes = evaluate_all(step.conditions, profile=profile, event=event, context=context)
            branches.append(f"{name}:{'yes' if yes else 'no'}")
            target = step.yes if yes else step.no
            i = scenario.step_index(target) if target is not None else _following(scenario, i)
            continue
        if isinstance(step, RandomSplitStep):
            u = assignment.bucket(scenario.id, pid, "split", name)
            options_pct = [_Pct(str(n), b.percent) for n, b in enumerate(step.branches)]
            picked = int(assignment.pick_weighted(u, options_pct))
            branches.append(f"{name}:{picked}")
            target = step.branches[picked].goto
            i = scenario.step_index(target) if target is not None else _following(scenario, i)
            continue
        raise TypeError(f"unknown step type {type(step).__name__}")  # pragma: no cover - the union is closed
    raise RuntimeError(f"scenario {scenario.id!r}: flow did not terminate")  # pragma: no cover


@dataclass(frozen=True)
class _Pct:
    id: str
    weight: float


def advance(run: ScenarioRun, action: Action, now: datetime) -> ScenarioRun:
    """The run after executing `action` (send done / wait scheduled / end reached). Pure: returns a copy."""
    update: dict[str, Any] = {"updated_at": now}
    if isinstance(action, SendAction):
        update |= {"step_index": action.next_index, "due_at": now}
        if run.variant is None and action.variant_id is not None:
            update["variant"] = action.variant_id
    elif isinstance(action, WaitAction):
        update |= {"step_index": action.next_index, "due_at": action.until}
    else:
        update |= {"status": "completed", "step_index": action.step_index}
    return run.model_copy(update=update)


def exit_run(run: ScenarioRun, reason: str, now: datetime) -> ScenarioRun:
    """The run ended early (exit condition, left audience...)."""
    return run.model_copy(update={"status": "exited", "exit_reason": reason, "updated_at": now})


# --------------------------------------------------------------------------------------------------------------------
# Exit and re-entry
# --------------------------------------------------------------------------------------------------------------------


def should_exit(
    scenario: Scenario,
    profile: Mapping[str, Any],
    events_since: Iterable[TrackedEvent],
    *,
    context: Mapping[str, Any] | None = None,
    since: datetime | None = None,
    audience_member: bool | None = None,
    rule_matcher: RuleMatcher | None = None,
) -> str | None:
    """The reason the run must stop now, or None to carry on. Reasons: `event:<name>`, `left_segment:<id>`,
    `left_audience`, `condition:exit[<n>]`.

    `events_since` are the profile's events after the run started (`since`, when given, filters them strictly
    after). `audience_member` overrides the `who` check (e.g. the caller already evaluated an inline rule); when the
    membership is unknown, `left_audience` does not fire.
    """
    ctx = context or {}
    events = [e for e in events_since if since is None or _aware(e.timestamp) > _aware(since)]
    for n, rule in enumerate(scenario.exit):
        if rule.event is not None:
            for ev in events:
                if (
                    ev.type == "track"
                    and ev.event == rule.event
                    and not ev.is_bot
                    and not ev.unverified
                    and evaluate_all(rule.conditions, profile=profile, event=ev, context=ctx)
                ):
                    return f"event:{rule.event}"
        elif rule.left_segment is not None:
            if rule.left_segment not in segments(profile):
                return f"left_segment:{rule.left_segment}"
        elif rule.left_audience:
            member = audience_member if audience_member is not None else in_audience(scenario, profile, rule_matcher)
            if member is False:
                return "left_audience"
        elif rule.profile is not None and evaluate_all(rule.profile, profile=profile, context=ctx):
            return f"condition:exit[{n}]"
    return None


def reentry_allowed(scenario: Scenario, history: Iterable[ScenarioRun], now: datetime) -> bool:
    """Whether a new run may start, given this profile's earlier runs (any scenario; others are ignored).

    Never while a run of the scenario is active (a second Product Added does not start a parallel cart reminder).
    `once`: only if there was no earlier run (holdout runs count: the person was assigned). `always`: yes.
    `{after: D}`: when the latest entry started at least D ago.
    """
    runs = [r for r in history if r.scenario_id == scenario.id]
    if any(r.is_active for r in runs):
        return False
    if not runs or scenario.reentry == "always":
        return True
    if scenario.reentry == "once":
        return False
    assert isinstance(scenario.reentry, ReentryAfter)
    latest = max(_aware(r.entered_at) for r in runs)
    return _aware(now) - latest >= parse_duration(scenario.reentry.after)
