"""In-memory similar-items store: the same merge as the DynamoDB adapter, counting its read and write requests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.recommendations.similarity import STOCK_KEY, Delta, marked_out_of_stock, updated


class InMemorySimilarItems:
    """Satisfies `recommendations.ports.SimilarItemsStore`."""

    def __init__(self) -> None:
        self.lists: dict[str, dict[str, Any]] = {}
        self.facts: set[str] = set()
        self.reads = 0
        self.writes = 0  # items written (one marker + one per list, as the adapter's transaction)

    def read(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        self.reads += 1
        return {k: self.lists[k] for k in keys if k in self.lists}

    def mark_stock(self, product_id: str, in_stock: bool, at: str) -> None:
        new = marked_out_of_stock(self.lists.get(STOCK_KEY), product_id, in_stock, at)
        if new["ids"] or STOCK_KEY in self.lists:
            self.lists[STOCK_KEY] = new

    def apply(self, fact: str, deltas: Mapping[str, Delta], now: datetime) -> bool:
        if fact in self.facts:
            return False
        self.facts.add(fact)
        self.lists.update(updated({k: self.lists.get(k) for k in deltas}, deltas))
        self.writes += 1 + len(deltas)
        return True
