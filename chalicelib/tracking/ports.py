"""Ports: the storage and delivery interfaces the services use; adapters implement them, tests may fake them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from chalicelib.tracking.events import TrackedEvent
from chalicelib.tracking.sources import Source


class EventStore(ABC):
    @abstractmethod
    def put_new(self, event: TrackedEvent) -> bool:
        """Store one event unless its key exists. Returns False for a duplicate. One write request."""

    @abstractmethod
    def put_many(self, events: list[TrackedEvent]) -> None:
        """Store events in as few write requests as possible (25 per request). A re-sent key overwrites itself."""

    @abstractmethod
    def history(self, profile_id: str, limit: int = 50, newest_first: bool = True) -> list[TrackedEvent]: ...

    def delete(self, keys: list[str]) -> None:
        """Delete events by key (erasure of a person's late events)."""
        raise NotImplementedError

    @abstractmethod
    def repoint(self, from_profile: str, to_profile: str) -> int:
        """Move one profile's history to another (after a merge). Returns the number of events moved."""


class IdentityStore(ABC):
    @abstractmethod
    def lookup(self, keys: list[str]) -> dict[str, str]:
        """Identity key -> profile id for the keys that have a record (reads only)."""

    @abstractmethod
    def link(self, key: str, profile_id: str, *, only_if_absent: bool) -> bool:
        """Point an identity at a profile. With only_if_absent, returns False when another record already exists."""

    @abstractmethod
    def for_profile(self, profile_id: str) -> list[str]: ...


class ProfileStore(ABC):
    @abstractmethod
    def get_many(self, profile_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Profile id -> stored item (low-level attribute-value form) for the profiles that exist."""

    @abstractmethod
    def put(self, item: dict[str, Any], expected_version: int | None) -> bool:
        """Write a profile if its stored version still equals expected_version (None: must not exist yet).
        Returns False on a lost race."""


class FailedEventStore(ABC):
    @abstractmethod
    def record(self, source_id: str | None, reason: dict[str, Any], raw: Any) -> None: ...

    @abstractmethod
    def list(self, day: str, limit: int = 50, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]: ...


class SourceRegistry(ABC):
    @abstractmethod
    def by_write_key(self, write_key: str) -> Source | None: ...

    @abstractmethod
    def any_allows_origin(self, origin: str) -> bool: ...

    @abstractmethod
    def upsert_source(self, source_id: str, write_key: str, allowed_origins: list[str], name: str = "") -> Source: ...
