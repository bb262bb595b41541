"""In-memory scenario ports: runs, the step queue, co-purchases, and a reader of newly folded events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.scenarios.engine import ScenarioRun
from chalicelib.tracking.events import ItemRef, TrackedEvent


class InMemoryRunStore:
    """Satisfies `scenarios.ports.RunStore`; `tests/contract/test_run_store.py` holds it to the adapter's behaviour.
    Runs are stored as JSON, as the adapter does, so a caller's later change to a run object is not seen."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], str] = {}

    def create(self, run: ScenarioRun) -> bool:
        key = (run.profile_id, run.trigger_id)
        if key in self.runs:
            return False
        self.runs[key] = run.model_dump_json()
        return True

    def save(self, run: ScenarioRun, expected_step: int) -> bool:
        stored = self.get(run.profile_id, run.trigger_id)
        if stored is None or stored.status != "active" or stored.step_index != expected_step:
            return False
        self.runs[(run.profile_id, run.trigger_id)] = run.model_dump_json()
        return True

    def get(self, profile_id: str, trigger_id: str) -> ScenarioRun | None:
        body = self.runs.get((profile_id, trigger_id))
        return ScenarioRun.model_validate_json(body) if body is not None else None

    def for_profile(self, profile_id: str) -> list[ScenarioRun]:
        keys = sorted(k for k in self.runs if k[0] == profile_id)
        return [ScenarioRun.model_validate_json(self.runs[k]) for k in keys]


class RecordingStepQueue:
    """Satisfies `scenarios.ports.StepQueue`: keeps what was enqueued."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def enqueue(self, messages: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        self.messages.extend(messages)


class EventShelf:
    """The scenario service's event reader (item keys (profile id, ts_key) -> {event key: TrackedEvent} of every event
    in those items) over a dict; `fail` makes reads raise."""

    def __init__(self, events: Iterable[TrackedEvent] = ()) -> None:
        self.items: dict[ItemRef, list[TrackedEvent]] = {}
        self.add(*events)
        self.fail: Exception | None = None
        self.reads: list[list[ItemRef]] = []

    def add(self, *events: TrackedEvent) -> None:
        """Events in items of their own."""
        self.items.update({e.stored_in(): [e] for e in events})

    def add_group(self, ref: ItemRef, *events: TrackedEvent) -> None:
        """Events stored together in one group item (tracking/events.py): read back by the group's key."""
        self.items[ref] = list(events)

    def __call__(self, refs: list[ItemRef]) -> dict[str, TrackedEvent]:
        self.reads.append(list(refs))
        if self.fail is not None:
            raise self.fail
        return {e.key: e for ref in refs for e in self.items.get(ref, [])}
