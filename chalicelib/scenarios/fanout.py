"""Audience fan-out: scheduled scenarios fire, their audience is paged onto a queue, and one run starts per member.

Three steps, each small enough for one Lambda invocation however large the audience:

1. `fire_due` (the minute schedule): the cron times between the cursor and now of every enabled schedule scenario;
   each (scenario, fire time) is claimed conditionally, then one `page` message goes to the audience queue. A late or
   repeated scheduler run finds the claim and fires nothing twice. After downtime only the LATEST missed time of each
   scenario fires (the earlier ones are logged): an hourly cron after a five-hour outage should not mail everyone five
   times in one minute, and a newsletter that is late is still wanted once.
2. a `page` message reads one page of the segment's members (a Query), queues `start` messages of at most
   `START_CHUNK` ids and, first, the message of the next page: the walk is a chain, the run starts are parallel.
3. a `start` message creates one run per member, conditionally on (profile, trigger instance) with the trigger
   instance derived from scenario + fire time, and queues its first step: a duplicated page or start message starts
   nothing twice, and every guard (consent, caps, quiet hours, holdout...) is checked at send time by delivery.

Queue messages: `{"k": "page", "sc", "t", "seg", "c"}` and `{"k": "start", "sc", "t", "ids"}` (+ extra keys a caller
such as broadcasts adds and reads back through `StartHooks`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from chalicelib.scenarios.definitions import Scenario, ScheduleTrigger
from chalicelib.scenarios.engine import (
    ScenarioRun,
    ScheduleTick,
    due_schedule_times,
    reentry_allowed,
    start_run,
    trigger_context,
    trigger_instance_id,
)
from chalicelib.scenarios.ports import AudiencePages, RunStore, ScheduleState, StepQueue
from chalicelib.shared.clock import Clock
from chalicelib.tracking.events import iso

log = logging.getLogger("one2one")

PAGE_SIZE = 1000  # members per Query: ~100 bytes each, far below DynamoDB's 1 MB page
START_CHUNK = 100  # ids per start message: ~5 KB of SQS body, a second or two of conditional puts
FIRST_RUN_LOOKBACK = timedelta(minutes=1)  # no cursor yet: fire the current minute, nothing from before deployment


class UnreadableAudienceMessage(ValueError):
    """Not a fan-out message: retrying cannot fix it (logged and dropped)."""


Verdict = Literal["go", "hold", "drop"]


@dataclass(frozen=True)
class MemberPlan:
    due: datetime | None = None
    variant: str | None = None


class StartHooks(Protocol):
    """What a caller (broadcasts) decides per start message: whether to start now, and when each first step is due."""

    def verdict(self, message: Mapping[str, Any]) -> Verdict:
        """`go`; `hold` (paused: the message is parked until resumed); `drop` (cancelled)."""
        ...

    def park(self, message: Mapping[str, Any]) -> None:
        """Keep a held message until the fan-out is resumed (which puts it back on the queue)."""
        ...

    def member(self, message: Mapping[str, Any], profile_id: str, now: datetime) -> MemberPlan | None:
        """Whether this member starts in this phase (None: not now, e.g. kept for an A/B winner), when its first step
        is due and which variant it gets (None: the scenario's own weighted choice)."""
        ...

    def started(self, message: Mapping[str, Any], started: int, duplicates: int) -> None:
        """Progress: runs started by this message (duplicates: already there)."""
        ...

    def paged(self, message: Mapping[str, Any], count: int, last: bool) -> None:
        """Progress: one page of `count` members read (`last`: the walk is complete)."""
        ...


@dataclass
class FanoutStats:
    fired: int = 0
    pages: int = 0
    started: int = 0
    duplicates: int = 0
    skipped_reentry: int = 0
    not_in_phase: int = 0


class DueScheduler(Protocol):
    """Puts a first step on the due store when it is not due yet (delivery's `schedule`)."""

    def __call__(self, message: dict[str, Any], until: datetime, now: datetime) -> None: ...


class AudienceFanout:
    def __init__(
        self,
        *,
        runs: RunStore,
        state: ScheduleState,
        members: AudiencePages,
        audience_queue: StepQueue,
        step_queue: StepQueue,
        clock: Clock,
        scenarios: Sequence[Scenario] | Callable[[], Sequence[Scenario]],
        lookup: Callable[[str], Scenario | None] | None = None,
        engagement: Any = None,
        hooks: StartHooks | None = None,
        schedule_step: DueScheduler | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.runs = runs
        self.state = state
        self.members = members
        self.audience_queue = audience_queue
        self.step_queue = step_queue
        self.clock = clock
        self._scenarios = scenarios
        # Scenarios that are not packaged (a broadcast's) are found through `lookup`.
        self._lookup = lookup
        self.engagement = engagement
        self.hooks = hooks
        self.schedule_step = schedule_step
        self.page_size = page_size
        self.last_stats = FanoutStats()

    @property
    def scenarios(self) -> list[Scenario]:
        # A callable is asked each time: the effective definitions are a cache that refreshes itself when they change.
        source = self._scenarios() if callable(self._scenarios) else self._scenarios
        return list(source)

    def scenario(self, scenario_id: str) -> Scenario | None:
        found = next((s for s in self.scenarios if s.id == scenario_id), None)
        if found is None and self._lookup is not None:
            found = self._lookup(scenario_id)
        return found

    # -- 1. the minute schedule ---------------------------------------------------------------------------------------
    def fire_due(self) -> list[str]:
        """Fire every schedule scenario whose cron time passed since the cursor; returns the trigger ids queued."""
        now = self.clock.now()
        cursor = self.state.cursor() or now - FIRST_RUN_LOOKBACK
        if cursor >= now:
            return []
        fired: list[str] = []
        for scenario in self.scenarios:
            if not isinstance(scenario.when, ScheduleTrigger) or not scenario.enabled or scenario.who is None:
                continue
            times = due_schedule_times(scenario, cursor, now)
            if not times:
                continue
            if len(times) > 1:
                log.warning(
                    "schedule: %s missed %d fire times (%s .. %s); only the latest fires",
                    scenario.id,
                    len(times) - 1,
                    iso(times[0]),
                    iso(times[-2]),
                )
            fire_at = times[-1]
            if not self.state.claim(scenario.id, fire_at, now):
                continue  # queued by an earlier (or concurrent) run of the scheduler
            trigger_id = trigger_instance_id(scenario, ScheduleTick(fire_at))
            assert scenario.who.segment is not None  # validation refuses an inline rule on a schedule
            self.audience_queue.enqueue([page_message(scenario.id, trigger_id, scenario.who.segment, None)])
            self.state.queued(scenario.id, fire_at, now)
            fired.append(trigger_id)
        # Only once everything due is queued: a crash before this line re-reads the window (claims dedupe it).
        self.state.set_cursor(now)
        self.last_stats.fired += len(fired)
        return fired

    # -- 2. and 3. the audience queue ---------------------------------------------------------------------------------
    def handle_body(self, body: str) -> None:
        """One audience queue message. A store or queue error raises (the queue retries the message)."""
        try:
            message = json.loads(body)
            kind = message["k"]
        except (TypeError, ValueError, KeyError) as exc:
            raise UnreadableAudienceMessage(str(exc)) from exc
        if kind == "page":
            self.page(message)
        elif kind == "start":
            self.start(message)
        else:
            raise UnreadableAudienceMessage(f"unknown kind {kind!r}")

    def _verdict(self, message: Mapping[str, Any]) -> Verdict:
        return self.hooks.verdict(message) if self.hooks is not None else "go"

    def page(self, message: Mapping[str, Any]) -> None:
        """Read one page of the segment; queue the next page first, then this page's start messages."""
        verdict = self._verdict(message)
        if verdict == "drop":
            return
        if verdict == "hold" and self.hooks is not None:
            # Parked, not failed: a failure would count receives and move a long pause to the dead-letter queue.
            self.hooks.park(message)
            return
        rows, cursor = self.members.members(str(message["seg"]), limit=self.page_size, cursor=message.get("c"))
        extra = {k: v for k, v in message.items() if k not in ("k", "sc", "t", "seg", "c")}
        out: list[dict[str, Any]] = []
        if cursor is not None:
            out.append({**message, "c": cursor})
        ids = [str(r["profile_id"]) for r in rows]
        out.extend(start_messages(str(message["sc"]), str(message["t"]), ids, **extra))
        if out:
            self.audience_queue.enqueue(out)
        if self.hooks is not None:
            self.hooks.paged(message, len(ids), cursor is None)
        self.last_stats.pages += 1

    def start(self, message: Mapping[str, Any]) -> None:
        """Start one run per member id (conditionally) and queue each first step."""
        verdict = self._verdict(message)
        if verdict == "drop":
            return
        if verdict == "hold" and self.hooks is not None:
            # Parked, not failed: a failure would count receives and move a long pause to the dead-letter queue.
            self.hooks.park(message)
            return
        scenario = self.scenario(str(message["sc"]))
        if scenario is None:
            log.warning("fan-out: scenario %s is gone; %d members not started", message["sc"], len(message["ids"]))
            return
        trigger_id = str(message["t"])
        now = self.clock.now()
        entered_at, context = self._entry(scenario, trigger_id, now)
        stats = self.last_stats
        started = duplicates = 0
        to_enqueue: list[dict[str, Any]] = []
        for profile_id in message["ids"]:
            pid = str(profile_id)
            plan = self.hooks.member(message, pid, now) if self.hooks is not None else MemberPlan()
            if plan is None:
                stats.not_in_phase += 1
                continue
            history = self.runs.for_profile(pid)  # one Query: this run if it exists, and the re-entry history
            existing = next((r for r in history if r.trigger_id == trigger_id), None)
            if existing is None:
                if not reentry_allowed(scenario, history, now):
                    stats.skipped_reentry += 1
                    continue
                run = start_run(scenario, {"profile_id": pid}, trigger_id, now, entered_at=entered_at, context=context)
                if plan.due is not None and plan.due > now:
                    run = run.model_copy(update={"due_at": plan.due})
                if plan.variant is not None and not run.holdout:
                    run = run.model_copy(update={"variant": plan.variant})
                if self.engagement is not None:  # the run record is the report's assignment: nothing to count
                    self.engagement.run_starting(run)
                if self.runs.create(run):
                    started += 1
                    existing = run
                else:  # a concurrent copy of this message created it first
                    existing = self.runs.get(pid, trigger_id)
                    duplicates += 1
            else:
                duplicates += 1
            if existing is None:
                continue
            if existing.is_active and existing.step_index == 0:
                # A duplicate re-queues the first step too: the first copy may have crashed before queueing it;
                # delivery drops a step whose run has moved on, and the message record never sends twice.
                self._first_step(existing, now, to_enqueue)
        if to_enqueue:
            self.step_queue.enqueue(to_enqueue)
        stats.started += started
        stats.duplicates += duplicates
        if self.hooks is not None:
            self.hooks.started(message, started, duplicates)

    def _first_step(self, run: ScenarioRun, now: datetime, batch: list[dict[str, Any]]) -> None:
        message = {"p": run.profile_id, "t": run.trigger_id, "s": run.step_index}
        if run.due_at > now and self.schedule_step is not None:
            self.schedule_step(message, run.due_at, now)
        else:
            batch.append(message)

    @staticmethod
    def _entry(scenario: Scenario, trigger_id: str, now: datetime) -> tuple[datetime, dict[str, Any]]:
        """When the run entered and what it remembers: the fire time of a schedule, else now."""
        if isinstance(scenario.when, ScheduleTrigger):
            fire = trigger_id.rsplit(":schedule:", 1)[-1]
            try:
                return trigger_context(ScheduleTick(datetime.fromisoformat(fire.replace("Z", "+00:00"))))
            except ValueError:
                pass
        return now, {}


def page_message(
    scenario_id: str, trigger_id: str, segment_id: str, cursor: str | None, **extra: Any
) -> dict[str, Any]:
    """The message that makes the audience worker read one page of `segment_id` (from `cursor`)."""
    return {"k": "page", "sc": scenario_id, "t": trigger_id, "seg": segment_id, "c": cursor, **extra}


def start_messages(scenario_id: str, trigger_id: str, ids: Sequence[str], **extra: Any) -> list[dict[str, Any]]:
    """Start messages of at most START_CHUNK ids each."""
    return [
        {"k": "start", "sc": scenario_id, "t": trigger_id, "ids": list(ids[i : i + START_CHUNK]), **extra}
        for i in range(0, len(ids), START_CHUNK)
    ]
