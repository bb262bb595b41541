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
    """Products bought together, learnt from orders and read by templates that need `related_products`."""

    def record_order(self, order_key: str, products: list[dict[str, Any]], now: datetime) -> bool:
        """Count the co-purchases of one order once (False when this order was recorded already)."""
        ...

    def related(self, product_ids: list[str], exclude: set[str], limit: int = 4) -> list[dict[str, Any]]:
        """Up to `limit` products most often bought with `product_ids`, none of `exclude`."""
        ...


class CatalogFanoutQueue(Protocol):
    """The catalog fan-out queue: one message per page of interested people still to start (see catalog_triggers)."""

    def send(self, jobs: list[dict[str, Any]]) -> None: ...


class DueSteps(Protocol):
    """Delivery's due store, as the fan-out needs it: a run's first step released by the minute reader at `until`."""

    def put(self, due_at: datetime, ref: str, payload: dict[str, Any]) -> None: ...
