"""In-memory catalog ports: the product store and the interest index (held to the adapters by tests/contract)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from chalicelib.catalog.ports import INTEREST_KINDS, Interest, InterestSignal, StoredProduct


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class InMemoryCatalogStore:
    """Satisfies `catalog.ports.CatalogStore`; products kept as JSON, as the adapter keeps them."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[int, str]] = {}
        self.writes = 0

    def get(self, product_id: str) -> StoredProduct | None:
        item = self.items.get(product_id)
        return StoredProduct.from_json(item[1], item[0]) if item else None

    def get_many(self, product_ids: Iterable[str]) -> dict[str, StoredProduct]:
        return {pid: p for pid in set(product_ids) if (p := self.get(pid)) is not None}

    def put(self, stored: StoredProduct, expected_version: int | None) -> bool:
        current = self.items.get(stored.product.id)
        if (current is None) != (expected_version is None) or (current and current[0] != expected_version):
            return False
        self.items[stored.product.id] = (stored.version, stored.to_json())
        self.writes += 1
        return True

    def page(self, limit: int, cursor: str | None) -> tuple[list[StoredProduct], str | None]:
        ids = sorted(self.items)
        start = ids.index(cursor) + 1 if cursor in ids else 0
        chosen = ids[start : start + limit]
        more = start + limit < len(ids)
        return [p for pid in chosen if (p := self.get(pid))], (chosen[-1] if more and chosen else None)


class InMemoryInterestIndex:
    """Satisfies `catalog.ports.InterestIndex`; counts write requests like the adapter (one per person and product)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes = 0

    def record(self, profile_id: str, signals: list[InterestSignal], keep_until: datetime) -> int:
        products = sorted({s.product_id for s in signals})
        for signal in signals:
            item = self.items.setdefault((signal.product_id, profile_id), {})
            item[f"{signal.kind}_at"] = _iso(signal.at)  # as the adapter: the last record written wins
            item["expires_at"] = int(keep_until.timestamp())
        self.writes += len(products)
        return len(products)

    def forget(self, profile_id: str, product_ids: Iterable[str]) -> None:
        for product_id in set(product_ids):
            self.items.pop((product_id, profile_id), None)

    def interested(self, product_id: str, limit: int, cursor: str | None) -> tuple[list[Interest], str | None]:
        people = sorted(p for (prod, p) in self.items if prod == product_id)
        start = people.index(cursor) + 1 if cursor in people else 0
        chosen = people[start : start + limit]
        out = [
            Interest(
                product_id,
                p,
                **{
                    f"{k}_at": self.items[(product_id, p)][f"{k}_at"]
                    for k in INTEREST_KINDS
                    if f"{k}_at" in self.items[(product_id, p)]
                },
            )
            for p in chosen
        ]
        return out, (chosen[-1] if start + limit < len(people) and chosen else None)
