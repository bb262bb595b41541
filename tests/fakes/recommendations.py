"""In-memory similar-items store and archive days: the same merge as the DynamoDB adapter, counting its requests."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from chalicelib.recommendations.daily import product_totals
from chalicelib.recommendations.similarity import STOCK_KEY, Delta, day_updated, marked_out_of_stock
from chalicelib.tracking.archive import decode


def applied(lists: dict[str, dict[str, Any]], deltas: Mapping[str, Delta]) -> None:
    """Apply updates to lists held in a dict as the store does (neighbour totals from the lists as they are)."""
    before = {k: float(lists[k]["t"]) for k in deltas if k.startswith("sim#") and k in lists}
    lists.update(day_updated({k: lists.get(k) for k in deltas}, deltas, product_totals(deltas, before)))


class Crash(Exception):
    """Raised by the fake store after `crash_after` list writes: a job dying half-way through a day."""


class InMemorySimilarItems:
    """Satisfies `recommendations.ports.SimilarItemsStore`."""

    def __init__(self) -> None:
        self.lists: dict[str, dict[str, Any]] = {}
        self.days: dict[str, str] = {}  # list key -> last day applied
        self.cursor: str | None = None
        self.reads = 0
        self.writes = 0  # list items written
        self.crash_after: int | None = None

    def read(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        self.reads += 1
        return {k: self.lists[k] for k in keys if k in self.lists}

    def applied(self, keys: list[str]) -> dict[str, tuple[float, str]]:
        return {k: (float(self.lists[k].get("t") or 0.0), self.days.get(k, "")) for k in keys if k in self.lists}

    def apply_day(self, day: str, deltas: Mapping[str, Delta], totals: Mapping[str, float]) -> int:
        written = 0
        for key in sorted(deltas):
            if self.days.get(key, "") >= day:
                continue
            if self.crash_after is not None and self.writes >= self.crash_after:
                raise Crash(f"crashed before {key}")
            self.lists[key] = day_updated({key: self.lists.get(key)}, {key: deltas[key]}, totals)[key]
            self.days[key] = day
            self.writes += 1
            written += 1
        return written

    def learnt_through(self) -> str | None:
        return self.cursor

    def set_learnt_through(self, day: str) -> None:
        self.cursor = day

    def mark_stock(self, product_id: str, in_stock: bool, at: str) -> None:
        new = marked_out_of_stock(self.lists.get(STOCK_KEY), product_id, in_stock, at)
        if new["ids"] or STOCK_KEY in self.lists:
            self.lists[STOCK_KEY] = new


class InMemoryArchiveDays:
    """Satisfies `recommendations.ports.ArchiveDays` over gzip objects by key (as `tracking.archive.encode` writes)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.dirty: dict[str, str] = {}

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def lines(self, key: str, events: Collection[str]) -> Iterator[dict[str, Any]]:
        body = self.objects.get(key)
        yield from (line for line in decode(body) if line.get("event") in events) if body is not None else ()

    def dirty_days(self) -> dict[str, str]:
        return dict(self.dirty)

    def archived_days(self, first: str, last: str) -> set[str]:
        days = {key.split("/")[1].removeprefix("dt=") for key in self.objects}
        return {day for day in days if first <= day <= last}

    def put(self, key: str, body: bytes) -> None:
        self.objects[key] = body

    def written(self, day_tokens: list[tuple[str, str]]) -> None:
        self.dirty.update(day_tokens)
