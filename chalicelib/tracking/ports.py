"""Ports of the tracking wing: where events, identities, failed events and sources are kept.

Protocols speaking domain (`TrackedEvent`, `Source`, identity keys); the DynamoDB adapters in `tracking/adapters/`
implement them structurally, and the in-memory fakes in `tests/fakes/tracking.py` honour the same contract
(`tests/contract/`). The profile store is the profiles wing's (`profiles/ports.py`).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

if TYPE_CHECKING:
    from chalicelib.tracking.events import ItemRef, TrackedEvent
    from chalicelib.tracking.sources import Source, SourceKind


class EventStore(Protocol):
    def put_new(self, event: TrackedEvent) -> bool:
        """Store one event unless its key exists. Returns False for a duplicate. One write request."""
        ...

    def put_many(self, events: list[TrackedEvent]) -> None:
        """Rewrite stored events where they are stored (`TrackedEvent.stored_in`: their own item or their group's),
        overwriting: for copies of events already stored (re-pointing after a merge, a replay), never for what a
        sender sends. An event whose profile changed moves to that profile's partition (a moved copy)."""
        ...

    def put_batch(self, events: list[TrackedEvent]) -> list[TrackedEvent]:
        """Store one request's events as ONE item per profile (a group; a lone event keeps an item of its own), with
        no read: the same batch re-sent rewrites the same items (never folded twice), and a messageId re-sent in
        another batch is applied once by the fold's replay guard (26 hours). Returns the events (each key once)."""
        ...

    def history(
        self, profile_id: str, limit: int = 50, newest_first: bool = True, merged_from: Sequence[str] = ()
    ) -> list[TrackedEvent]:
        """A profile's events by time (newest first unless asked otherwise), at most `limit`, with those of the
        profiles merged into it (`merged_from`: a merge leaves their items in their own partitions)."""
        ...

    def delete(self, refs: list[ItemRef]) -> None:
        """Delete items by their table key (`TrackedEvent.stored_in`: an event's own item, or its group's), e.g.
        erasure of a person's late events."""
        ...

    def repoint(self, from_profile: str, to_profile: str) -> int:
        """Move one profile's history (its items, groups whole) to another's partition, each moved item marked so
        that no stream reader takes its events as new. Returns the number of events moved. (Merges no longer move:
        readers follow `merged_from`; kept for tools and the contract.)"""
        ...


class IdentityStore(Protocol):
    def lookup(self, keys: list[str]) -> dict[str, str]:
        """Identity key -> profile id for the keys that have a record (reads only); `erased` (identity.ERASED) for a
        userId or email whose person was erased (its tombstone is kept under a keyed hash, never the raw key)."""
        ...

    def link(self, key: str, profile_id: str, *, only_if_absent: bool, taking_from: str | None = None) -> bool:
        """Point an identity at a profile. With only_if_absent, returns False when another profile holds the key
        (`taking_from`: another than that one, e.g. the loser of a merge whose keys move to the winner)."""
        ...


class FailedEvent(TypedDict):
    """A bad row: what failed (`reason`: error code, message, field), its source, and the raw input (truncated)."""

    id: str
    day: str
    source_id: str
    reason: dict[str, Any]
    raw: str
    truncated: bool
    received_at: str


class FailedEventStore(Protocol):
    def record(self, source_id: str | None, reason: dict[str, Any], raw: Any) -> None:
        """Keep a message that could not be accepted or folded, with why (`raw`: text or JSON-able)."""
        ...

    def list(self, day: str, limit: int = 50, cursor: str | None = None) -> tuple[list[FailedEvent], str | None]:
        """One page of a UTC day's bad rows, newest first, and the cursor of the next page (None: no more)."""
        ...

    def of_person(self, refs: builtins.list[str]) -> builtins.list[FailedEvent]:
        """The bad rows that hold any of these refs (identity keys `user:`/`email:`/`anon:`, `profile:<id>`; see
        `identity.person_refs`), found by key, never by reading whole days."""
        ...

    def erase_person(self, refs: builtins.list[str]) -> int:
        """Delete the bad rows `of_person` finds, with everything that points at them. Returns the rows deleted."""
        ...


class SourceRegistry(Protocol):
    def by_write_key(self, write_key: str) -> Source | None:
        """The source a write key authenticates (None for an unknown or revoked key)."""
        ...

    def any_allows_origin(self, origin: str) -> bool:
        """Whether some source accepts browser requests from `origin` (answers a CORS preflight)."""
        ...

    def upsert_source(
        self,
        source_id: str,
        write_key: str,
        allowed_origins: list[str],
        name: str = "",
        *,
        kind: SourceKind = "client",
        identity_secret: str | None = None,
    ) -> Source:
        """Create or replace the source a write key belongs to (only the key's hash is stored). A `client` source's
        identity secret signs the identity tokens of its userIds (tracking/trust.py)."""
        ...

    def keys(self, source_id: str | None = None) -> list[Source]:
        """Every stored key (one `Source` record each), of one source or of all, revoked and expired ones included."""
        ...

    def save(self, source: Source) -> None:
        """Replace one key's record (its expiry or revocation), found by its key hash."""
        ...


class EventArchive(Protocol):
    """The archive's objects (gzip JSON lines by key) and its per-person index of the days they have events in."""

    def put(self, key: str, body: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def keys(self, prefix: str) -> builtins.list[str]: ...
    def remember(self, profile_days: builtins.list[tuple[str, str]]) -> None:
        """Record that these (profile id, day) pairs have archived events (idempotent)."""
        ...

    def days(self, profile_ids: builtins.list[str]) -> set[str]: ...
    def forget(self, profile_ids: builtins.list[str]) -> None: ...
    def find(self, key: str) -> bytes | None:
        """The object, or None when it is gone (deleted by a compaction or an erasure since it was listed)."""
        ...

    # compaction (tracking/archive_maintenance.py): days written since their last compaction, erasures in flight
    def written(self, day_tokens: builtins.list[tuple[str, str]]) -> None:
        """Mark days as written, each with a token (the key written) that changes with every write."""
        ...

    def dirty_days(self) -> dict[str, str]: ...
    def clean(self, day: str, token: str) -> None:
        """Clear a day's mark if its token is still `token` (no write since the compaction read it)."""
        ...

    def erasure_started(self, days: builtins.list[str]) -> str:
        """Note an erasure on these days (an id naming no one); returns the id for `erasure_finished`."""
        ...

    def erasure_finished(self, days: builtins.list[str], erasure_id: str) -> None: ...
    def erasures(self, day: str) -> dict[str, bool]:
        """The erasures noted on a day in the last week: id -> finished."""
        ...

    # refill of failed writes
    def save_failed(self, first: str, last: str, keys: builtins.list[ItemRef]) -> None: ...
    def failed(self) -> builtins.list[tuple[str, str, builtins.list[ItemRef]]]: ...
    def refilled(self, first: str, last: str) -> None: ...
    def source_images(self, keys: builtins.list[ItemRef]) -> builtins.list[dict[str, Any]]:
        """The events' items as stored (attribute-value form, as a stream NewImage), for the keys still there."""
        ...
