"""What a catalog write changed, read from the catalog stream's old and new images (pure).

Scenario triggers (`scenarios.catalog_triggers`) decide from a `ProductChange` whether a product came back in stock,
fell under a stock threshold, or dropped in price by enough; the reference price for a drop comes from the product's
price history, so a price lowered in small steps is compared with what it cost before the steps began.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.catalog.model import in_stock
from chalicelib.catalog.ports import StoredProduct


@dataclass(frozen=True)
class ProductChange:
    """One write of one product: `old` is None for a new product."""

    old: StoredProduct | None
    new: StoredProduct

    @property
    def product_id(self) -> str:
        return self.new.product.id

    @property
    def version(self) -> int:
        return self.new.version

    @property
    def at(self) -> str:
        return self.new.product.updated_at or ""


def from_stream_record(record: Mapping[str, Any]) -> ProductChange | None:
    """The change a CatalogTable stream record describes (INSERT / MODIFY with a body), else None."""
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return None
    data = record.get("dynamodb") or {}
    new, old = data.get("NewImage") or {}, data.get("OldImage") or {}
    if "body" not in new:
        return None
    after = StoredProduct.from_json(new["body"]["S"], int(new["version"]["N"]))
    before = StoredProduct.from_json(old["body"]["S"], int(old["version"]["N"])) if "body" in old else None
    if before is not None and before.version >= after.version:
        return None  # not a newer write (a restore or a replay of an older image)
    return ProductChange(before, after)


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def reference_price(change: ProductChange, window: timedelta) -> float | None:
    """The highest price the product had in the `window` before this change (same currency), the previous price
    included; None when there is no earlier price."""
    new = change.new
    now = _parse(change.at)
    history = list(new.price_history)
    if history and history[-1].price == new.product.price and history[-1].at == change.at:
        history = history[:-1]  # the point this very write appended
    candidates = [
        p.price
        for p in history
        if p.currency == new.product.currency and (now is None or ((t := _parse(p.at)) and t >= now - window))
    ]
    if change.old is not None and change.old.product.currency == new.product.currency:
        candidates.append(change.old.product.price)
    return max(candidates) if candidates else None


def stock_flips(changes: Iterable[ProductChange]) -> list[tuple[str, bool, str]]:
    """`(product_id, in_stock, at)` for each change that makes a product buyable or not (a new product counts when it
    arrives out of stock); recommendations drop what cannot be bought."""
    flips = []
    for change in changes:
        after = in_stock(change.new.product.stock, change.new.product.availability)
        before = in_stock(change.old.product.stock, change.old.product.availability) if change.old is not None else True
        if after != before:
            flips.append((change.product_id, after, change.at))
    return flips
