"""In-memory SegmentStore (membership items, sizes, the customer population) and SegmentSizeCounter, as dicts (same
contracts as DynamoDB)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from chalicelib.segments.ports import CustomerRow
from chalicelib.segments.sizes import SizeDeltas


class InMemorySegmentStore:
    """Satisfies `segments.ports.SegmentStore`; `tests/contract/test_segment_store.py` holds it to the adapter's
    behaviour. `fail_once[profile_id] = exc` makes the next write for that profile raise `exc` (a storage failure).
    Sizes are those the members stream settles on: the items per segment (0 for a segment emptied since)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.had_members: set[str] = set()
        self.population: dict[str, CustomerRow] = {}
        self.fail_once: dict[str, Exception] = {}

    def _maybe_fail(self, profile_id: str) -> None:
        failure = self.fail_once.pop(profile_id, None)
        if failure is not None:
            raise failure

    def enter(self, segment_id: str, profile_id: str, entered_at: str, version: int) -> bool:
        self._maybe_fail(profile_id)
        if (segment_id, profile_id) in self.items:
            return False
        self.items[(segment_id, profile_id)] = {"profile_id": profile_id, "entered_at": entered_at, "version": version}
        self.had_members.add(segment_id)
        return True

    def leave(self, segment_id: str, profile_id: str) -> bool:
        self._maybe_fail(profile_id)
        return self.items.pop((segment_id, profile_id), None) is not None

    def sizes(self) -> dict[str, int]:
        out = dict.fromkeys(self.had_members, 0)
        for segment_id, _ in self.items:
            out[segment_id] += 1
        return out

    def member_partitions(self) -> list[str]:
        # The population's partitions are the adapter's (`$customers#<shard>`); listed alike, for the same shape.
        return sorted(self.had_members) + [f"$customers#{shard}" for shard in range(4)]

    def members(
        self, segment_id: str, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        after = _decode(cursor) if cursor else None
        ids = sorted(p for s, p in self.items if s == segment_id and (after is None or p > after))
        page = [dict(self.items[(segment_id, p)]) for p in ids[:limit]]
        return page, _encode(ids[limit - 1]) if len(ids) > limit else None

    def put_customer(self, row: CustomerRow) -> None:
        self._maybe_fail(row.profile_id)
        current = self.population.get(row.profile_id)
        if current is None or current.version <= row.version:  # a replayed older record never overwrites
            self.population[row.profile_id] = row

    def remove_customer(self, profile_id: str) -> None:
        self._maybe_fail(profile_id)
        self.population.pop(profile_id, None)

    def customers(self) -> Iterator[CustomerRow]:
        return iter(list(self.population.values()))


class InMemorySegmentSizeCounter:
    """Satisfies `segments.ports.SegmentSizeCounter`: batch markers and counters, all or nothing per batch.
    `fail_next` makes the next `add_batch` raise it (before writing anything, as a cancelled transaction)."""

    def __init__(self) -> None:
        self.markers: dict[str, str] = {}  # first sequence -> last counted sequence
        self.size: dict[str, int] = {}
        self.writes = 0
        self.fail_next: Exception | None = None

    def add_batch(self, batch: SizeDeltas, now: datetime) -> str | None:
        if batch.empty or batch.first_sequence is None:
            return None
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        if batch.first_sequence in self.markers:
            return self.markers[batch.first_sequence]
        self.markers[batch.first_sequence] = str(batch.last_sequence)
        for segment_id, delta in batch.changes.items():
            self.size[segment_id] = self.size.get(segment_id, 0) + delta
        self.writes += 1
        return None


def _encode(profile_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": profile_id}).encode()).decode()


def _decode(cursor: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("cursor is not valid") from None
    if not isinstance(data, dict) or not isinstance(data.get("after"), str):
        raise ValueError("cursor is not valid")
    return data["after"]
