"""In-memory fakes of the tracking ports (`chalicelib/tracking/ports.py`)."""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.tracking.events import ItemRef, TrackedEvent, iso
from chalicelib.tracking.identity import ERASED, erased_identity_key, person_refs, tombstone_read_on_miss
from chalicelib.tracking.ports import FailedEvent
from chalicelib.tracking.sources import Source, SourceKind, hash_write_key


def _copy(event: TrackedEvent) -> TrackedEvent:
    """The event as a store would hand it back: a new object (a stream event comes back whole)."""
    return TrackedEvent.from_item(event.to_item())


class FakeEventStore:
    def __init__(self) -> None:
        self.items: dict[str, TrackedEvent] = {}

    def put_new(self, event: TrackedEvent) -> bool:
        if event.key in self.items:
            return False
        self.items[event.key] = _copy(event)
        return True

    def put_many(self, events: list[TrackedEvent]) -> None:
        for event in events:
            self.items[event.key] = _copy(event)

    def put_batch(self, events: list[TrackedEvent]) -> list[TrackedEvent]:
        # Kept by event key: the grouping into items is the adapter's (tests/contract covers both through the port).
        unique = list({e.key: e for e in events}.values())
        for event in unique:
            self.items[event.key] = _copy(event)
        return unique

    def history(
        self, profile_id: str, limit: int = 50, newest_first: bool = True, merged_from: Sequence[str] = ()
    ) -> list[TrackedEvent]:
        # Ordered as the adapter orders them: by `ts_key` (event time, then message id).
        owners = {profile_id, *merged_from}
        found = sorted(
            (e for e in self.items.values() if e.profile_id in owners),
            key=lambda e: f"{iso(e.timestamp)}#{e.message_id}",
            reverse=newest_first,
        )
        return [_copy(e) for e in found[:limit]]

    def delete(self, refs: list[ItemRef]) -> None:
        gone = set(refs)
        for key in [k for k, e in self.items.items() if e.stored_in() in gone]:
            del self.items[key]

    def repoint(self, from_profile: str, to_profile: str) -> int:
        moved = [e for e in self.items.values() if e.profile_id == from_profile]
        for event in moved:
            event.profile_id = to_profile
        return len(moved)

    def for_profile(self, profile_id: str) -> list[TrackedEvent]:
        """Test helper: every stored event of a profile, oldest first."""
        return self.history(profile_id, limit=10**6, newest_first=False)


class FakeIdentityStore:
    def __init__(self, secret: str = "") -> None:
        self.records: dict[str, str] = {}
        self.secret = secret

    def lookup(self, keys: list[str]) -> dict[str, str]:
        found = {k: self.records[k] for k in keys if k in self.records}
        for key in keys:
            hashed = erased_identity_key(key, self.secret)
            if key not in found and tombstone_read_on_miss(key) and self.records.get(hashed) == ERASED:
                found[key] = ERASED
        return found

    def erase(self, key: str) -> None:
        """What erasure does to the identities table (privacy's adapter): the record goes, a hashed tombstone stays."""
        self.records.pop(key, None)
        self.records[erased_identity_key(key, self.secret)] = ERASED

    def link(self, key: str, profile_id: str, *, only_if_absent: bool, taking_from: str | None = None) -> bool:
        if only_if_absent and self.records.get(key, profile_id) not in (profile_id, taking_from):
            return False
        self.records[key] = profile_id
        return True


class FakeFailedEventStore:
    MAX_RAW_CHARS = 16_000

    def __init__(self) -> None:
        self.rows: list[FailedEvent] = []
        self.refs: dict[str, set[str]] = {}  # row id -> the person refs in it

    def record(self, source_id: str | None, reason: dict[str, Any], raw: Any) -> None:
        now = datetime.now(UTC)
        raw_text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
        row_id = f"{now.strftime('%H:%M:%S.%f')}#{uuid.uuid4().hex[:12]}"
        self.refs[row_id] = person_refs(raw)
        self.rows.append(
            {
                "id": row_id,
                "day": now.strftime("%Y-%m-%d"),
                "source_id": source_id or "-",
                "reason": json.loads(json.dumps(reason)),
                "raw": raw_text[: self.MAX_RAW_CHARS] or "-",
                "truncated": len(raw_text) > self.MAX_RAW_CHARS,
                "received_at": now.isoformat(),
            }
        )

    def list(self, day: str, limit: int = 50, cursor: str | None = None) -> tuple[list[FailedEvent], str | None]:
        rows = sorted((r for r in self.rows if r["day"] == day), key=lambda r: r["id"], reverse=True)
        if cursor:
            rows = [r for r in rows if r["id"] < cursor]
        page = rows[:limit]
        return page, page[-1]["id"] if len(rows) > limit else None

    def of_person(self, refs: builtins.list[str]) -> builtins.list[FailedEvent]:
        return [r for r in self.rows if self.refs.get(r["id"], set()) & set(refs)]

    def erase_person(self, refs: builtins.list[str]) -> int:
        found = {r["id"] for r in self.of_person(refs)}
        self.rows = [r for r in self.rows if r["id"] not in found]
        return len(found)

    def errors(self) -> builtins.list[str]:  # `list` is this class's method
        """Test helper: the error code of every row recorded, in order."""
        return [row["reason"].get("error", "") for row in self.rows]


class FakeSourceRegistry:
    def __init__(self) -> None:
        self.sources: dict[str, Source] = {}

    def by_write_key(self, write_key: str) -> Source | None:
        source = self.sources.get(hash_write_key(write_key))
        return source if source is not None and source.key_matches(write_key) else None

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
            name=name or source_id,
            key_hash=hash_write_key(write_key),
            allowed_origins=allowed_origins,
            kind=kind,
            identity_secret=identity_secret,
            created_at=f"{len(self.sources):06d}",  # increasing, as creation times are
        )
        self.sources[source.key_hash] = source
        return source

    def keys(self, source_id: str | None = None) -> list[Source]:
        return [s for s in self.sources.values() if source_id is None or s.source_id == source_id]

    def save(self, source: Source) -> None:
        self.sources[source.key_hash] = source
