"""In-memory ports that count their read and write requests, so the fold is measured alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from chalicelib.profiles.adapters.dynamodb_profiles import stored_profile
from chalicelib.profiles.codec import to_item
from chalicelib.profiles.model import Profile
from chalicelib.profiles.ports import StoredProfile
from chalicelib.tracking.events import TrackedEvent
from chalicelib.tracking.identity import tombstone_read_on_miss
from chalicelib.tracking.ports import FailedEvent
from chalicelib.tracking.sources import Source, SourceKind, hash_write_key


class Requests(Counter):
    """Request counts by kind, e.g. `profile_put`, `profile_get`, `event_write`."""


class MemoryEventStore:
    def __init__(self, requests: Requests) -> None:
        self.items: dict[str, TrackedEvent] = {}
        self.requests = requests

    def put_new(self, event: TrackedEvent) -> bool:
        self.requests["event_write"] += 1
        if event.key in self.items:
            return False
        self.items[event.key] = event
        return True

    def put_many(self, events: list[TrackedEvent]) -> None:
        self.requests["event_write"] += -(-len(events) // 25)
        for event in events:
            self.items[event.key] = event

    def put_batch(self, events: list[TrackedEvent]) -> list[TrackedEvent]:
        # As the DynamoDB adapter: one item per profile, one BatchWriteItem per 25 items, no read.
        unique = list({e.key: e for e in events}.values())
        self.requests["event_write"] += -(-len({e.profile_id for e in unique}) // 25)
        for event in unique:
            self.items[event.key] = event
        return unique

    def history(self, profile_id: str, limit: int = 50, newest_first: bool = True) -> list[TrackedEvent]:
        self.requests["event_read"] += 1
        found = sorted((e for e in self.items.values() if e.profile_id == profile_id), key=lambda e: e.timestamp)
        return (found[::-1] if newest_first else found)[:limit]

    def delete(self, keys: list[str]) -> None:
        self.requests["event_write"] += -(-len(keys) // 25)
        for key in keys:
            self.items.pop(key, None)

    def repoint(self, from_profile: str, to_profile: str) -> int:
        moved = [e for e in self.items.values() if e.profile_id == from_profile]
        for event in moved:
            event.profile_id = to_profile
        self.requests["event_write"] += -(-len(moved) // 25)
        return len(moved)


class MemoryIdentityStore:
    def __init__(self, requests: Requests) -> None:
        self.records: dict[str, str] = {}
        self.requests = requests

    def lookup(self, keys: list[str]) -> dict[str, str]:
        self.requests["identity_read"] += 1
        found = {k: self.records[k] for k in keys if k in self.records}
        if any(k not in found and tombstone_read_on_miss(k) for k in keys):
            self.requests["identity_read"] += 1  # the adapter's second BatchGetItem, for erased tombstones
        return found

    def link(self, key: str, profile_id: str, *, only_if_absent: bool, taking_from: str | None = None) -> bool:
        self.requests["identity_write"] += 1
        if only_if_absent and self.records.get(key, profile_id) not in (profile_id, taking_from):
            return False
        self.records[key] = profile_id
        return True


class MemoryProfileStore:
    """Items stored exactly as the DynamoDB adapter writes them (compressed bodies), so decoding is measured too."""

    def __init__(self, requests: Requests) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.requests = requests

    def get(self, profile_id: str) -> StoredProfile | None:
        self.requests["profile_get"] += 1
        item = self.items.get(profile_id)
        return stored_profile(item) if item is not None else None

    def get_many(self, profile_ids: Iterable[str]) -> dict[str, StoredProfile]:
        self.requests["profile_get"] += 1
        return {pid: stored_profile(self.items[pid]) for pid in profile_ids if pid in self.items}

    def put(self, profile: Profile, expected_version: int | None) -> bool:
        self.requests["profile_put"] += 1
        current = self.items.get(profile.profile_id)
        stored_version = int(current["version"]["N"]) if current is not None else None
        if stored_version != expected_version:
            return False
        self.items[profile.profile_id] = to_item(profile)
        return True


class MemoryFailedEventStore:
    def __init__(self, requests: Requests) -> None:
        self.rows: list[dict[str, Any]] = []  # as recorded: source_id, reason, raw
        self.requests = requests

    def record(self, source_id: str | None, reason: dict[str, Any], raw: Any) -> None:
        self.requests["failed_write"] += 1
        self.rows.append({"source_id": source_id, "reason": reason, "raw": raw})

    def list(self, day: str, limit: int = 50, cursor: str | None = None) -> tuple[list[FailedEvent], str | None]:
        raise NotImplementedError("the bench never lists failed events (tests/fakes/tracking.py does)")


class MemorySourceRegistry:
    def __init__(self) -> None:
        self.sources: dict[str, Source] = {}

    def by_write_key(self, write_key: str) -> Source | None:
        return self.sources.get(hash_write_key(write_key))

    def any_allows_origin(self, origin: str) -> bool:
        return any(s.origin_allowed(origin) for s in self.sources.values())

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
        source = Source(
            source_id=source_id,
            name=name,
            key_hash=hash_write_key(write_key),
            allowed_origins=allowed_origins,
            kind=kind,
            identity_secret=identity_secret,
        )
        self.sources[source.key_hash] = source
        return source

    def keys(self, source_id: str | None = None) -> list[Source]:
        return [s for s in self.sources.values() if source_id is None or s.source_id == source_id]

    def save(self, source: Source) -> None:
        self.sources[source.key_hash] = source
