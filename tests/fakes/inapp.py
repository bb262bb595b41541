"""In-memory in-app state store (same contract as the DynamoDB adapter); reports: tests/fakes/engagement.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from chalicelib.inapp.state import InAppState


class InMemoryInAppStateStore:
    """Satisfies `inapp.ports.InAppStateStore` (tests/contract/test_inapp_state_store.py). Stored as JSON, like the
    adapter, so a test never shares an object with the store. `reads` counts `get` calls."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[str, int]] = {}
        self.reads = 0

    def get(self, profile_id: str) -> InAppState | None:
        self.reads += 1
        found = self.items.get(profile_id)
        return InAppState.from_dict(json.loads(found[0]), found[1]) if found else None

    def update(self, profile_id: str, change: Callable[[InAppState], bool], now: datetime) -> InAppState:
        found = self.items.get(profile_id)
        state = InAppState.from_dict(json.loads(found[0]), found[1]) if found else InAppState()
        if change(state):
            state.version += 1
            self.items[profile_id] = (json.dumps(state.to_dict()), state.version)
        return state
