"""In-app ports: the per-person state store and the report counters views, clicks and dismissals feed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from chalicelib.engagement.ports import ReportCounter
from chalicelib.inapp.state import InAppState

__all__ = ["InAppStateStore", "ReportCounter"]  # the report counters are the engagement wing's port


class InAppStateStore(Protocol):
    """One item per person (contract: tests/contract/test_inapp_state_store.py)."""

    def get(self, profile_id: str) -> InAppState | None:
        """The person's state (one read), None when nothing was ever recorded."""
        ...

    def update(self, profile_id: str, change: Callable[[InAppState], bool], now: datetime) -> InAppState:
        """Apply `change` to the current state and write it back unless another writer moved it first (then read
        and apply again). `change` returns whether it changed anything; nothing is written when it did not."""
        ...
