"""Catalog ports: where products are kept, and the index of who showed interest in which product."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from chalicelib.catalog.model import PricePoint, Product

InterestKind = Literal["viewed", "carted", "wishlisted"]
INTEREST_KINDS: tuple[InterestKind, ...] = ("viewed", "carted", "wishlisted")


@dataclass(frozen=True)
class StoredProduct:
    """A product as stored: the shop's fields, a version bumped by every write, and its price history (oldest
    first, at most `model.MAX_PRICE_HISTORY` points)."""

    product: Product
    version: int
    price_history: tuple[PricePoint, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "product": self.product.model_dump(exclude_none=True, exclude_defaults=True),
                "price_history": [p.model_dump() for p in self.price_history],
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, body: str, version: int) -> StoredProduct:
        data = json.loads(body)
        history = tuple(PricePoint.model_validate(p) for p in data.get("price_history") or ())
        return cls(Product.model_validate(data["product"]), version, history)

    def view(self) -> dict[str, Any]:
        """The admin API's JSON of this product."""
        return {
            **self.product.model_dump(exclude_none=True),
            "version": self.version,
            "in_stock": self.product.available,
            "price_history": [p.model_dump() for p in self.price_history],
        }


@dataclass(frozen=True)
class Interest:
    """One person's latest signs of interest in one product (ISO times; None = never)."""

    product_id: str
    profile_id: str
    viewed_at: str | None = None
    carted_at: str | None = None
    wishlisted_at: str | None = None

    def latest(self, kinds: Iterable[str]) -> str | None:
        times = [t for k in kinds if (t := getattr(self, f"{k}_at", None))]
        return max(times) if times else None


@dataclass
class InterestSignal:
    product_id: str
    kind: InterestKind
    at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


class CatalogStore(Protocol):
    def get(self, product_id: str) -> StoredProduct | None: ...

    def get_many(self, product_ids: Iterable[str]) -> dict[str, StoredProduct]:
        """The stored products among `product_ids` (missing ones are left out)."""
        ...

    def put(self, stored: StoredProduct, expected_version: int | None) -> bool:
        """Write if the stored version is still `expected_version` (None: only if absent); False otherwise."""
        ...

    def page(self, limit: int, cursor: str | None) -> tuple[list[StoredProduct], str | None]:
        """Up to `limit` products and an opaque cursor for the next page (None at the end)."""
        ...


class InterestIndex(Protocol):
    def record(self, profile_id: str, signals: list[InterestSignal], keep_until: datetime) -> int:
        """Note the signals (latest time per kind wins); returns the write requests made. Kept until `keep_until`."""
        ...

    def forget(self, profile_id: str, product_ids: Iterable[str]) -> None:
        """The person bought these: they are no longer waiting for them."""
        ...

    def interested(self, product_id: str, limit: int, cursor: str | None) -> tuple[list[Interest], str | None]:
        """One page of the people interested in a product (a Query of its partition), and the next cursor."""
        ...
