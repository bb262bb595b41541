"""Broadcast ports: status and progress (they change often, so they live apart from the versioned definition)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class BroadcastStatusStore(Protocol):
    def get(self, broadcast_id: str) -> dict[str, Any] | None:
        """`{"status", "at", "targeted", "started", "duplicates", "skipped_unknown", "walked", ...}` or None."""
        ...

    def create(self, broadcast_id: str, now: datetime) -> None:
        """A new draft's status item."""
        ...

    def move(self, broadcast_id: str, allowed: tuple[str, ...], status: str, now: datetime, **fields: Any) -> bool:
        """Set `status` (and fields) if the current status is one of `allowed`; False otherwise (nothing written)."""
        ...

    def add(self, broadcast_id: str, **counts: int) -> None:
        """ADD progress counters."""
        ...

    def set(self, broadcast_id: str, **fields: Any) -> None: ...

    def put_due(self, broadcast_id: str, at: datetime) -> None:
        """List the broadcast for launch at `at`."""
        ...

    def drop_due(self, broadcast_id: str, at: datetime) -> None: ...

    def park(self, broadcast_id: str, message: dict[str, Any]) -> None:
        """Keep a fan-out message of a paused broadcast."""
        ...

    def parked(self, broadcast_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(key, message) of every parked message."""
        ...

    def unpark(self, broadcast_id: str, key: str) -> None: ...

    def due(self, until: datetime) -> list[tuple[str, datetime]]:
        """Broadcasts listed for launch at or before `until`: (id, at)."""
        ...


class IdentityLookup(Protocol):
    """Profile id of an email address or a user id (None when unknown)."""

    def __call__(self, kind: str, value: str) -> str | None: ...


class AudienceSegments(Protocol):
    """Inline-rule audiences: the rule becomes a hidden segment (`bc-<broadcast id>`), evaluated over every existing
    profile by a backfill before the broadcast launches, and disabled once its members have been walked."""

    def problem(self, rule: dict[str, Any]) -> tuple[str, str] | None:
        """(field path, message) when the rule does not validate as a segment rule; None when it does."""
        ...

    def prepare(self, segment_id: str, rule: dict[str, Any], by: str) -> None:
        """Store (or update) the hidden segment; its backfill starts."""
        ...

    def ready(self, segment_id: str) -> bool:
        """True once the segment's latest backfill has finished (its membership is exact)."""
        ...

    def retire(self, segment_id: str, by: str) -> None:
        """Disable the hidden segment: folds stop evaluating it."""
        ...
