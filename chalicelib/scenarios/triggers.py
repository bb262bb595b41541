"""Scenario use case: profiles-stream records become started runs (triggers) and cancelled runs (exit conditions).

Per record: the transitions recorded by this profile version and the events newly folded into it (the items the fold
lists in `folded_in` by `ts_key`, read back with one BatchGetItem, and of their events those whose tags it lists in
`folded`) are matched against the enabled scenarios. A run is created conditionally on (profile, trigger instance), so
a duplicated stream delivery starts nothing twice; its first step is put on the delivery queue at once. Runs whose exit
condition a new event or change satisfies are exited now, so a waiting reminder is cancelled before it comes due (the
delivery guards re-check it at send time anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.catalog import InterestIndex
from chalicelib.profiles.codec import body_dict, read_item
from chalicelib.profiles.model import Transition
from chalicelib.profiles.ports import ProfileStore
from chalicelib.scenarios.definitions import Scenario
from chalicelib.scenarios.engine import (
    ScenarioRun,
    TriggerMatch,
    exit_run,
    match_triggers,
    reentry_allowed,
    should_exit,
    start_run,
    trigger_context,
)
from chalicelib.scenarios.ports import RunStore, StepQueue
from chalicelib.shared.clock import Clock
from chalicelib.tracking.events import ItemRef, TrackedEvent, is_ts_key

log = logging.getLogger("one2one")


@dataclass
class ScenarioStats:
    records: int = 0
    events: int = 0
    transitions: int = 0
    started: int = 0
    duplicates: int = 0
    exited: int = 0
    failed_records: int = 0


# Item keys (profile id, ts_key: an event's own item, or a group's) -> event key -> event, for every event stored in
# those items.
EventReader = Callable[[list[ItemRef]], dict[str, TrackedEvent]]


class InAppFeedback(Protocol):
    """The in-app wing's fold of a person's new events (`InAppService.apply_events`), idempotent on replays."""

    def apply_events(
        self, profile_id: str, events: Iterable[TrackedEvent], profile: Mapping[str, Any] | None = None
    ) -> int: ...


class ScenarioService:
    def __init__(
        self,
        *,
        runs: RunStore,
        read_events: EventReader,
        queue: StepQueue,
        clock: Clock,
        scenarios: Sequence[Scenario] | Callable[[], Sequence[Scenario]],
        engagement: Any = None,
        interests: InterestIndex | None = None,
        inapp: InAppFeedback | None = None,
        profiles: ProfileStore | None = None,
    ) -> None:
        # Where a merged-away profile went: its event items move to the winner's partition (same `ts_key`), possibly
        # before this reader reads the loser's version (a sign-in in the same batch as anonymous events).
        self.profiles = profiles
        # In-app views, clicks, dismissals and trigger events fold into the person's in-app state here, where the
        # newly folded events are already read (no further reader of the streams); optional like the others.
        self.inapp = inapp
        # Catalog triggers: who showed interest in which product, written here where the new events are already
        # read (the fold pays nothing); optional so the service can be built without a catalog.
        self.interests = interests
        # Issue 5: conversions are attributed here, where newly folded events are already read (no third reader of
        # the profiles stream); optional so the service can be built without reports.
        self.engagement = engagement
        self.runs = runs
        self.read_events = read_events
        self.queue = queue
        # Similar items are not learnt here (one transaction per event cost ~$10 per million events): the nightly
        # job learns them from the event archive (recommendations/learning.py).
        self.clock = clock
        # A callable is called at first use (the composition root loads the packaged scenarios lazily).
        self._scenarios = scenarios
        self.last_stats = ScenarioStats()

    @property
    def scenarios(self) -> list[Scenario]:
        # A callable is asked each time: the effective definitions are a cache that refreshes itself when they change.
        source = self._scenarios() if callable(self._scenarios) else self._scenarios
        return list(source)

    def process_records(self, stream_records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Act on a batch of profiles-stream records; return the sequence numbers to retry.

        The batch's new events are read at once; when that read fails every record is retried. A record that fails
        is retried with the later records of the same profile, so each person's changes are acted on in order.
        """
        stats = ScenarioStats()
        records = [r for r in stream_records if r.get("eventName") in ("INSERT", "MODIFY")]
        stats.records = len(records)
        parsed = [(r, *self._diff(r)) for r in records]
        wanted = sorted({ref for _, _, _, _, new in parsed for ref in new.refs})
        failures: list[str] = []
        try:
            events = self.read_events(wanted) if wanted else {}
            events = self._moved_events(parsed, events)
        except Exception:
            log.exception("scenarios: could not read %d new events; batch retried", len(wanted))
            return [r["dynamodb"]["SequenceNumber"] for r in records]
        failed_profiles: set[str] = set()
        by_tag: dict[str, TrackedEvent] | None = None
        for record, profile, previous, transitions, new in parsed:
            sequence = record["dynamodb"].get("SequenceNumber", "")
            if profile is None:
                continue
            if profile["profile_id"] in failed_profiles:
                failures.append(sequence)  # keep a person's records in order: retry the later ones too
                continue
            found: list[TrackedEvent] = []
            if new.tags:
                if by_tag is None:
                    by_tag = _by_tag(events)
                found = [by_tag[t] for t in new.tags if t in by_tag]
            new_events = sorted(found, key=lambda e: (e.timestamp, e.key))
            stats.events += len(new_events)
            stats.transitions += len(transitions)
            try:
                self.process(profile, new_events, transitions, stats, previous=previous)
            except Exception:
                log.exception("scenarios: profile %s record %s failed; retried", profile["profile_id"], sequence)
                failed_profiles.add(profile["profile_id"])
                failures.append(sequence)
        stats.failed_records = len(failures)
        self.last_stats = stats
        return failures

    def _moved_events(self, parsed: list[tuple[Any, ...]], events: dict[str, TrackedEvent]) -> dict[str, TrackedEvent]:
        """`events` plus those a merge moved before this read: a version whose applied events were not all found (its
        items gone from its partition) has them read again in the partition of the profile it was merged into. Only
        a miss costs anything (a profile read per hop); an item gone for good (TTL, erasure) stays missing."""
        if self.profiles is None:
            return events
        from chalicelib.profiles.redirects import follow_merges

        found = set(_by_tag(events))
        missing: dict[str, set[str]] = {}
        for _, profile, *_, new in parsed:
            if profile is not None and any(tag not in found for tag in new.tags):
                missing.setdefault(str(profile["profile_id"]), set()).update(ts_key for _, ts_key in new.refs)
        moved: list[ItemRef] = []
        for profile_id, ts_keys in sorted(missing.items()):
            winner, _ = follow_merges(self.profiles, profile_id)
            if winner != profile_id:
                moved += [(winner, ts_key) for ts_key in sorted(ts_keys)]
        return {**events, **self.read_events(moved)} if moved else events

    @staticmethod
    def _diff(
        record: Mapping[str, Any],
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[Transition], NewEvents]:
        """(profile JSON, the previous version's JSON (None: none), transitions of this version, the events newly
        applied by it) of one stream record."""
        data = record.get("dynamodb") or {}
        new, old = data.get("NewImage"), data.get("OldImage") or {}
        if not new or "body" not in new or "merged_into" in new or "erased_at" in new:
            return None, None, [], NewEvents()
        body = body_dict(new)
        body["version"] = int(new["version"]["N"]) if "version" in new else body.get("version", 0)
        old_body = body_dict(old) if "body" in old else {}
        old_version = int(old["version"]["N"]) if "version" in old else -1
        transitions: list[Transition] = []
        if body["version"] != old_version:
            transitions = read_item(new).new_transitions()
        # The fold lists what it folded into this version. A writer that copies the body without folding (retiring a
        # merged profile) keeps the previous list: nothing new then.
        old_folded = set(old_body.get("folded") or ())
        # Tags of the applied events, and the items (event items or groups, by `ts_key` in this profile's partition)
        # that hold them. A version written before the events table was keyed by profile named its items by pk (or
        # listed full keys): those items went with the old table, so it brings no events (its transitions still act).
        tags = [t for t in body.get("folded") or () if t not in old_folded]
        profile_id = str(body.get("profile_id", ""))
        refs = [(profile_id, ref) for ref in body.get("folded_in") or () if is_ts_key(ref)] if tags else []
        return body, old_body if "body" in old else None, transitions, NewEvents(refs=refs, tags=tags if refs else [])

    def process(
        self,
        profile: dict[str, Any],
        events: list[TrackedEvent],
        transitions: list[Transition],
        stats: ScenarioStats,
        previous: Mapping[str, Any] | None = None,
    ) -> None:
        """Exit what must stop, start what triggers. `previous`: the profile version before this one (None: none)."""
        now = self.clock.now()
        profile_id = profile["profile_id"]
        if self.interests is not None:
            self._note_interest(profile, previous, events, now)
        if self.engagement is not None and any(e.event == "Push Opened" for e in events):
            self.engagement.push_opens(profile_id, events)
        if self.inapp is not None and events:
            self.inapp.apply_events(profile_id, events, profile)
        if self.engagement is not None and any(e.event == "Order Completed" for e in events):
            self.engagement.orders(profile_id, events, self.runs.for_profile(profile_id))
        matches: list[tuple[TriggerMatch, TrackedEvent | Transition]] = []
        items: list[TrackedEvent | Transition] = [*events, *transitions]
        for item in items:
            for match in match_triggers(self.scenarios, item, profile):
                matches.append((match, item))
        if not matches and not transitions and not self._may_exit(events):
            return
        history = self.runs.for_profile(profile_id)
        by_id = {s.id: s for s in self.scenarios}
        for run in [r for r in history if r.is_active]:
            scenario = by_id.get(run.scenario_id)
            if scenario is None:
                continue
            reason = should_exit(scenario, profile, events, context=run.context, since=run.entered_at)
            if reason and self.runs.save(exit_run(run, reason, now), run.step_index):
                stats.exited += 1
                history = [exit_run(r, reason, now) if r.trigger_id == run.trigger_id else r for r in history]
        to_enqueue: list[dict[str, Any]] = []
        for (scenario, trigger_id), item in matches:
            existing = next((r for r in history if r.trigger_id == trigger_id), None)
            if existing is not None:
                stats.duplicates += 1
                if existing.is_active and existing.step_index == 0:
                    to_enqueue.append(_first_step(existing))  # a crash may have lost the first enqueue
                continue
            if not reentry_allowed(scenario, history, now):
                continue
            entered_at, context = trigger_context(item)
            run = start_run(scenario, profile, trigger_id, now, entered_at=entered_at, context=context)
            if self.engagement is not None:  # the run record is the report's assignment: nothing to count after
                self.engagement.run_starting(run)
            if self.runs.create(run):
                stats.started += 1
                history.append(run)
                to_enqueue.append(_first_step(run))
            else:  # created by an earlier delivery of this record
                stats.duplicates += 1
                stored = self.runs.get(profile_id, trigger_id)
                if stored is not None:
                    history.append(stored)
                    if stored.is_active and stored.step_index == 0:
                        to_enqueue.append(_first_step(stored))
        if to_enqueue:
            self.queue.enqueue(to_enqueue)

    def _note_interest(
        self, profile: Mapping[str, Any], previous: Mapping[str, Any] | None, events: list[TrackedEvent], now: Any
    ) -> None:
        """Product interest into the index, purchases out of it; nothing at all while no catalog scenario is enabled
        (interest is kept as long as the longest `within` of those scenarios). Interest is written only for a person
        a catalog scenario can reach, with what their profile kept from before when they become reachable or a merge
        brings another profile's in (`interest_backfill`); a purchase forgets whether they are reachable or not."""
        from chalicelib.scenarios.catalog_triggers import (
            interest_backfill,
            interest_kinds,
            interest_retention,
            interest_routes,
            interest_updates,
            reachable,
        )

        assert self.interests is not None
        scenarios = self.scenarios
        retention = interest_retention(scenarios)
        if retention is None:
            return
        profile_id = str(profile["profile_id"])
        kinds = interest_kinds(scenarios)
        signals, bought = interest_updates(events, kinds) if events else ([], set())
        routes = interest_routes(scenarios)
        if reachable(profile, routes):
            signals += interest_backfill(profile, previous, routes, kinds, now - retention)
        else:
            signals = []
        if signals:
            self.interests.record(profile_id, signals, now + retention)
        if bought:
            self.interests.forget(profile_id, bought)

    def _may_exit(self, events: list[TrackedEvent]) -> bool:
        names = {rule.event for s in self.scenarios for rule in s.exit if rule.event}
        return any(e.event in names for e in events)


@dataclass
class NewEvents:
    """The events a profile version applied: the items to read (`refs`, their table keys) and what picks them out of
    those items, `tags` (`applied_tag` of their keys)."""

    refs: list[ItemRef] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def _by_tag(events: Mapping[str, TrackedEvent]) -> dict[str, TrackedEvent]:
    from chalicelib.profiles.fold import applied_tag  # lazy: the fold module pulls in its rules

    return {applied_tag(key): event for key, event in events.items()}


def _first_step(run: ScenarioRun) -> dict[str, Any]:
    return {"p": run.profile_id, "t": run.trigger_id, "s": run.step_index}
