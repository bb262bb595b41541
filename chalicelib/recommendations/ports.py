"""Recommendation ports: the similar-items store, and where stock comes from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from chalicelib.recommendations.similarity import Delta


class SimilarItemsStore(Protocol):
    """Bounded lists (similar items per product, popularity per category), each one item, updated per event once."""

    def read(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The lists among `keys` that exist, by key (one batch read; `similarity.merge` describes a list)."""
        ...

    def apply(self, fact: str, deltas: Mapping[str, Delta], now: datetime) -> bool:
        """Apply one event's deltas (`similarity.event_deltas`) all at once, and only once per `fact` (the event's
        key): False, and nothing written, when that fact was applied already. Every list stays within its bound."""
        ...

    def mark_stock(self, product_id: str, in_stock: bool, at: str) -> None:
        """Keep the catalog's out-of-stock list (`similarity.STOCK_KEY`) true for `product_id`; idempotent."""
        ...


class Availability(Protocol):
    """Which products must not be recommended because they cannot be bought.

    Today stock is what the latest event said (`in_stock`, `stock`, `availability` properties, carried in each
    card), which needs no read. The catalog (branch wt-catalog) is the authority once merged: an implementation over
    its store answers here. It costs one more read per call, unless the catalog's change stream writes a product's
    stock into the lists that hold it, which keeps recommendations at one read (see docs/ARCHITECTURE.md)."""

    def unavailable(self, product_ids: Iterable[str]) -> set[str]: ...


class CardsSayStock:
    """Availability as the cards in the lists say it: nothing more to read (`rank` drops `in_stock: false` cards)."""

    def unavailable(self, product_ids: Iterable[str]) -> set[str]:
        return set()
