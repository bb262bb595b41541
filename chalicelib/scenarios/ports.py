"""Scenario ports: where runs are kept, where their next steps are queued, and the co-purchase memory."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from chalicelib.scenarios.engine import ScenarioRun


class RunStore(Protocol):
    """Scenario runs, one per (profile, trigger instance)."""

    def create(self, run: ScenarioRun) -> bool:
        """Store a new run; False (and nothing written) when a run with its key exists already."""
        ...

    def save(self, run: ScenarioRun, expected_step: int) -> bool:
        """Replace a run if the stored one is still active at `expected_step`; False otherwise (another step won)."""
        ...

    def get(self, profile_id: str, trigger_id: str) -> ScenarioRun | None:
        """The run with this key, or None."""
        ...

    def for_profile(self, profile_id: str) -> list[ScenarioRun]:
        """Every run of a profile, any scenario and status."""
        ...


class StepQueue(Protocol):
    """The delivery queue: `{"p": profile_id, "t": trigger_id, "s": step_index}` messages."""

    def enqueue(self, messages: list[dict[str, Any]], delay_seconds: int = 0) -> None: ...


class RelatedProducts(Protocol):
    """Products bought or viewed together (the similar-items lists, learnt nightly from the event archive), read by
    templates that need `related_products`."""

    def related(self, product_ids: list[str], exclude: set[str], limit: int = 4) -> list[dict[str, Any]]:
        """Up to `limit` products most often bought with `product_ids`, none of `exclude`."""
        ...


class CatalogFanoutQueue(Protocol):
    """The catalog fan-out queue: one message per page of interested people still to start (see catalog_triggers)."""

    def send(self, jobs: list[dict[str, Any]]) -> None: ...


class DueSteps(Protocol):
    """Delivery's due store, as the fan-out needs it: a run's first step released by the minute reader at `until`."""

    def put(self, due_at: datetime, ref: str, payload: dict[str, Any]) -> None: ...


class ScheduleState(Protocol):
    """Where the schedule firer keeps its cursor and its claims, one per (scenario, fire time)."""

    def cursor(self) -> datetime | None:
        """The time up to which every fire time has been handled, or None before the first run."""
        ...

    def set_cursor(self, at: datetime) -> None: ...

    def claim(self, scenario_id: str, fire_at: datetime, now: datetime) -> bool:
        """True when this (scenario, fire time) is ours to queue: never claimed, or claimed by a run that crashed
        before queueing it. False once it was queued (a repeated or late scheduler run fires nothing twice)."""
        ...

    def queued(self, scenario_id: str, fire_at: datetime, now: datetime) -> None:
        """Record that the fan-out of this fire time is on the audience queue."""
        ...


class AudiencePages(Protocol):
    """A segment's members, a page at a time (the SegmentStore's `members`)."""

    def members(
        self, segment_id: str, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]: ...
