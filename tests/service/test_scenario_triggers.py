"""Scenario trigger use case against in-memory ports: runs started, exited, deduplicated, and failures deferred."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.scenarios.definitions import Scenario
from chalicelib.scenarios.loader import parse_scenario
from chalicelib.scenarios.triggers import ScenarioService
from chalicelib.shared.clock import FakeClock
from chalicelib.tracking.events import TrackedEvent
from tests.fakes.scenarios import EventShelf, InMemoryRunStore, RecordingStepQueue

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CART = parse_scenario(
    {
        "id": "cart",
        "name": "Cart reminder",
        "when": {"type": "event", "event": "Product Added"},
        "steps": [{"type": "wait", "duration": "1h"}, {"type": "send", "channel": "email", "template": "cart"}],
        "exit": [{"event": "Order Completed"}],
    }
)
WELCOME = parse_scenario(
    {
        "id": "welcome",
        "name": "Welcome",
        "when": {"type": "stage_changed", "to": "new"},
        "steps": [{"type": "send", "channel": "email", "template": "welcome"}],
    }
)


def event(name: str, message_id: str, profile_id: str = "p1", at: datetime = NOW, **properties: Any) -> TrackedEvent:
    return TrackedEvent(
        message_id=message_id,
        source_id="web",
        type="track",
        profile_id=profile_id,
        timestamp=at,
        received_at=at,
        event=name,
        properties=properties,
    )


def image(
    profile_id: str, version: int, folded: list[TrackedEvent], transitions: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """A profiles-table stream image (low-level form, JSON body): the events this version folded (their tags and the
    `ts_key`s of their own items, as the fold lists them), its transitions."""
    from chalicelib.profiles.fold import applied_tag

    body = {
        "profile_id": profile_id,
        "stage": "new",
        "folded": [applied_tag(e.key) for e in folded],
        "folded_in": [e.ts_key for e in folded],
        "recent_transitions": [{**t, "version": version} for t in transitions],
    }
    return {"profile_id": {"S": profile_id}, "version": {"N": str(version)}, "body": {"S": json.dumps(body)}}


def record(sequence: str, new: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"SequenceNumber": sequence, "NewImage": new}
    if old is not None:
        data["OldImage"] = old
    return {"eventName": "INSERT" if old is None else "MODIFY", "dynamodb": data}


class FlakyRunStore(InMemoryRunStore):
    """A run store that fails for some profiles."""

    def __init__(self, failing: set[str]) -> None:
        super().__init__()
        self.failing = failing

    def for_profile(self, profile_id: str) -> list[Any]:
        if profile_id in self.failing:
            raise RuntimeError("storage unavailable")
        return super().for_profile(profile_id)


@pytest.fixture
def runs() -> InMemoryRunStore:
    return InMemoryRunStore()


@pytest.fixture
def queue() -> RecordingStepQueue:
    return RecordingStepQueue()


@pytest.fixture
def shelf() -> EventShelf:
    return EventShelf()


def service_with(
    runs: InMemoryRunStore, queue: RecordingStepQueue, shelf: EventShelf, scenarios: Any = (CART, WELCOME)
) -> ScenarioService:
    return ScenarioService(
        runs=runs,
        read_events=shelf,
        queue=queue,
        clock=FakeClock(NOW),
        scenarios=list(scenarios) if isinstance(scenarios, tuple) else scenarios,
    )


def test_a_triggering_event_starts_one_run_and_queues_its_first_step(
    runs: InMemoryRunStore, queue: RecordingStepQueue, shelf: EventShelf
) -> None:
    # GIVEN a profile version that folded a Product Added
    added = event("Product Added", "m1", product_id="42")
    shelf.add(added)
    service = service_with(runs, queue, shelf)
    # WHEN its stream record is processed
    deferred = service.process_records([record("1", image("p1", 1, [added]))])
    # THEN one cart run starts at step 0, remembering the product, and its first step is queued
    assert deferred == []
    (run,) = runs.for_profile("p1")
    assert (run.scenario_id, run.step_index, run.status, run.context["product_id"]) == ("cart", 0, "active", "42")
    assert queue.messages == [{"p": "p1", "t": run.trigger_id, "s": 0}]


def test_a_replayed_record_starts_nothing_twice(
    runs: InMemoryRunStore, queue: RecordingStepQueue, shelf: EventShelf
) -> None:
    added = event("Product Added", "m1")
    shelf.add(added)
    service = service_with(runs, queue, shelf)
    batch = [record("1", image("p1", 1, [added]))]
    service.process_records(batch)
    service.process_records(batch)
    assert len(runs.for_profile("p1")) == 1
    assert service.last_stats.duplicates == 1 and service.last_stats.started == 0


def test_a_transition_of_this_version_starts_its_scenario(
    runs: InMemoryRunStore, queue: RecordingStepQueue, shelf: EventShelf
) -> None:
    became_new = {
        "kind": "stage_changed",
        "name": "new",
        "from": "prospect",
        "to": "new",
        "at": "2026-03-02T12:00:00.000Z",
    }
    service_with(runs, queue, shelf).process_records([record("1", image("p1", 1, [], [became_new]))])
    assert [r.scenario_id for r in runs.for_profile("p1")] == ["welcome"]


def test_an_exit_event_ends_the_active_run(
    runs: InMemoryRunStore, queue: RecordingStepQueue, shelf: EventShelf
) -> None:
    # GIVEN an active cart run
    added, ordered = (
        event("Product Added", "m1"),
        event("Order Completed", "m2", at=NOW + timedelta(minutes=5), products=[{"product_id": "42"}]),
    )
    shelf.add(added, ordered)
    service = service_with(runs, queue, shelf)
    first = image("p1", 1, [added])
    service.process_records([record("1", first)])
    # WHEN the person orders
    service.process_records([record("2", image("p1", 2, [ordered]), old=first)])
    # THEN the run is exited with the event as its reason
    (run,) = runs.for_profile("p1")
    assert (run.status, run.exit_reason) == ("exited", "event:Order Completed")


def test_events_folded_by_an_earlier_version_are_not_read_again(
    runs: InMemoryRunStore, queue: RecordingStepQueue, shelf: EventShelf
) -> None:
    added = event("Product Added", "m1")
    shelf.add(added)
    old = image("p1", 1, [added])
    service_with(runs, queue, shelf).process_records([record("2", image("p1", 2, [added]), old=old)])
    assert shelf.reads == []


def test_a_failed_event_read_defers_every_record(
    runs: InMemoryRunStore, queue: RecordingStepQueue, shelf: EventShelf
) -> None:
    shelf.fail = RuntimeError("BatchGetItem failed")
    batch = [
        record("1", image("p1", 1, [event("Product Added", "m1")])),
        record("2", image("p2", 1, [event("Product Added", "m2", profile_id="p2")])),
    ]
    assert service_with(runs, queue, shelf).process_records(batch) == ["1", "2"]


def test_a_failing_profile_defers_its_later_records_but_not_other_profiles(
    queue: RecordingStepQueue, shelf: EventShelf
) -> None:
    # GIVEN records of two profiles, and storage that fails for p1
    events = [event("Product Added", f"m{n}", profile_id=pid) for n, pid in enumerate(["p1", "p2", "p1"])]
    shelf.add(*events)
    runs = FlakyRunStore(failing={"p1"})
    batch = [record(str(n), image(e.profile_id, n + 1, [e])) for n, e in enumerate(events)]
    # WHEN the batch is processed
    deferred = service_with(runs, queue, shelf).process_records(batch)
    # THEN p1's records are retried (in order) and p2's run started
    assert deferred == ["0", "2"]
    assert [r.scenario_id for r in runs.for_profile("p2")] == ["cart"]


def test_records_that_are_not_profile_versions_are_ignored(
    runs: InMemoryRunStore, queue: RecordingStepQueue, shelf: EventShelf
) -> None:
    removed = {"eventName": "REMOVE", "dynamodb": {"SequenceNumber": "1", "OldImage": image("p1", 1, [])}}
    merged = image("p2", 2, [])
    merged["merged_into"] = {"S": "p3"}
    assert service_with(runs, queue, shelf).process_records([removed, record("2", merged)]) == []
    assert runs.runs == {} and queue.messages == []


def test_scenarios_given_as_a_loader_are_asked_at_each_use_never_at_construction(
    runs: InMemoryRunStore, queue: RecordingStepQueue, shelf: EventShelf
) -> None:
    calls: list[int] = []

    def load() -> list[Scenario]:
        calls.append(1)
        return [CART]

    service = service_with(runs, queue, shelf, scenarios=load)
    assert calls == []
    assert [s.id for s in service.scenarios] == ["cart"]
    assert [s.id for s in service.scenarios] == ["cart"]
    # Asked each time: the provider is the effective-definitions cache, which refreshes itself when they change.
    assert calls == [1, 1]


def test_a_group_item_is_read_once_and_only_the_events_this_version_applied_act(
    runs: InMemoryRunStore, queue: RecordingStepQueue, shelf: EventShelf
) -> None:

    # GIVEN a batch stored as one group item, of which the previous version applied m1 and this one m2
    first, second = event("Product Added", "m1", product_id="41"), event("Product Added", "m2", product_id="42")
    not_yet = event("Product Added", "m3", product_id="43")
    group = ("p1", f"{first.ts_key[:24]}#g#batch")
    shelf.add_group(group, first, second, not_yet)

    def version(n: int, applied: list[TrackedEvent]) -> dict[str, Any]:
        new = image("p1", n, applied)
        body = json.loads(new["body"]["S"])
        new["body"] = {"S": json.dumps({**body, "folded_in": [group[1]]})}
        return new

    service = service_with(runs, queue, shelf)
    # WHEN the version's stream record is processed
    service.process_records([record("2", version(2, [second]), old=version(1, [first]))])
    # THEN the group was read once, by its key, and only m2 started a run
    assert shelf.reads == [[group]]
    (run,) = runs.for_profile("p1")
    assert run.context["product_id"] == "42"
    assert service.last_stats.events == 1


def test_a_version_naming_items_of_the_old_events_table_reads_nothing(
    runs: InMemoryRunStore, queue: RecordingStepQueue, shelf: EventShelf
) -> None:
    # GIVEN versions written before the events table was keyed by profile: items named by pk, or full keys only
    added = event("Product Added", "m1", product_id="42")
    shelf.add(added)
    by_pk = image("p1", 1, [added])
    body = json.loads(by_pk["body"]["S"])
    by_pk["body"] = {"S": json.dumps({**body, "folded_in": [added.key]})}
    keys_only = image("p2", 1, [])
    keys_only["body"] = {"S": json.dumps({**json.loads(keys_only["body"]["S"]), "folded": [added.key]})}
    # WHEN their records are processed THEN nothing is read (those items went with the old table) and nothing starts
    assert service_with(runs, queue, shelf).process_records([record("1", by_pk), record("2", keys_only)]) == []
    assert shelf.reads == [] and runs.runs == {}
