"""In-app ports: the per-person state store and the report counters views, clicks and dismissals feed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from chalicelib.inapp.state import InAppState


class InAppStateStore(Protocol):
    """One item per person (contract: tests/contract/test_inapp_state_store.py)."""

    def get(self, profile_id: str) -> InAppState | None:
        """The person's state (one read), None when nothing was ever recorded."""
        ...

    def update(self, profile_id: str, change: Callable[[InAppState], bool], now: datetime) -> InAppState:
        """Apply `change` to the current state and write it back unless another writer moved it first (then read
        and apply again). `change` returns whether it changed anything; nothing is written when it did not."""
        ...


class ReportCounter(Protocol):
    """The engagement wing's idempotent report counters (`EngagementStore.count`)."""

    def count(
        self,
        fact_id: str,
        scenario_id: str,
        row: str,
        increments: dict[str, float],
        now: datetime,
        *,
        listed: bool = True,
        daily: str | None = None,
    ) -> bool: ...
