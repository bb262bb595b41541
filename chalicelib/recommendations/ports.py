"""Recommendation ports: the similar-items store, and where stock comes from."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any, Protocol

from chalicelib.recommendations.similarity import Delta


class SimilarItemsStore(Protocol):
    """Bounded lists (similar items per product, popularity per category), each one item, written by the nightly job
    at most once per list and archive day."""

    def read(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The lists among `keys` that exist, by key (one batch read; `similarity.merge` describes a list)."""
        ...

    def applied(self, keys: list[str]) -> dict[str, tuple[float, str]]:
        """For the lists among `keys` that exist: (own total `t`, the last archive day applied to it, "" if none)."""
        ...

    def apply_day(self, day: str, deltas: Mapping[str, Delta], totals: Mapping[str, float]) -> int:
        """Write each list of `deltas` (one day's, summed) with the day applied (`similarity.day_updated`), unless
        that day or a later one was applied to it already: a re-run of a day, or a run resumed after a crash
        half-way, counts nothing twice. Every list stays within its bound. Returns how many lists were written."""
        ...

    def learnt_through(self) -> str | None:
        """The last archive day the nightly job learnt entirely (None before its first run)."""
        ...

    def set_learnt_through(self, day: str) -> None: ...

    def mark_stock(self, product_id: str, in_stock: bool, at: str) -> None:
        """Keep the catalog's out-of-stock list (`similarity.STOCK_KEY`) true for `product_id`; idempotent."""
        ...


class ArchiveDays(Protocol):
    """The event archive as the nightly job reads it (the tracking wing's `S3EventArchive` answers it)."""

    def keys(self, prefix: str) -> list[str]:
        """The archive objects under `prefix` (a day's partition, `tracking.archive.partition`)."""
        ...

    def lines(self, key: str, events: Collection[str]) -> Iterator[dict[str, Any]]:
        """The archived lines of one object whose event is one of `events`, streamed (nothing if it is gone)."""
        ...

    def dirty_days(self) -> dict[str, str]:
        """Days written since their last compaction (not complete yet: the job waits for them)."""
        ...

    def archived_days(self, first: str, last: str) -> set[str]:
        """The days from `first` to `last` (inclusive) that have archived objects (the others teach nothing)."""
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
