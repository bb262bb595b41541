"""Catalog use cases: upsert one product (API, server source), bulk-load a CSV / JSONL upload with a per-line report.

A write reads the stored product and replaces it conditionally on its version, so two writers never lose each other's
change; a product whose `updated_at` is older than the stored one is stale (a replayed feed) and left alone, and an
unchanged product is not written at all (no stream record, no trigger). Every price change is appended to the
product's price history, which price-drop triggers compare against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from chalicelib.catalog import bulk
from chalicelib.catalog.exceptions import ProductError
from chalicelib.catalog.model import MAX_PRICE_HISTORY, PricePoint, Product, validate_product
from chalicelib.catalog.ports import CatalogStore, StoredProduct
from chalicelib.shared.clock import Clock

WriteStatus = Literal["created", "updated", "unchanged", "stale"]
MAX_ATTEMPTS = 4


class CatalogConflict(RuntimeError):
    """Another writer kept winning the race for one product."""


@dataclass
class BulkReport:
    accepted: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "rejected": self.rejected,
        }


class CatalogService:
    def __init__(self, store: CatalogStore, clock: Clock, sites: Callable[[], Iterable[str]]) -> None:
        self.store = store
        self.clock = clock
        self._sites = sites

    def sites(self, extra: Iterable[str] = ()) -> frozenset[str]:
        """The shop's sites (ONE2ONE_CATALOG_HOSTS) plus, for a source, its own allowed origins."""
        return frozenset([*self._sites(), *extra])

    def upsert(
        self, raw: Any, *, product_id: str | None = None, extra_sites: Iterable[str] = ()
    ) -> tuple[WriteStatus, StoredProduct]:
        """Validate and store one product. Raises ProductError (4xx) or CatalogConflict."""
        product = validate_product(raw, self.sites(extra_sites), product_id=product_id)
        return self._write(self._stamped(product), self.store.get(product.id))

    def bulk_load(self, text: str, fmt: str, *, extra_sites: Iterable[str] = ()) -> BulkReport:
        """Load every good row of a CSV or JSONL upload; the report lists each refused line with its reason.
        Raises UploadError when the file as a whole cannot be read."""
        report = BulkReport()
        rows, rejected = bulk.parse(text, fmt)
        report.rejected.extend(rejected)
        sites = self.sites(extra_sites)
        valid: list[tuple[int, Product]] = []
        first_line: dict[str, int] = {}
        for line, raw in rows:
            try:
                product = validate_product(raw, sites)
            except ProductError as exc:
                report.rejected.append({"line": line, "id": _raw_id(raw), "field": exc.field, "reason": exc.reason})
                continue
            if product.id in first_line:
                reason = f"id {product.id!r} was already given at line {first_line[product.id]}"
                report.rejected.append({"line": line, "id": product.id, "field": "id", "reason": reason})
                continue
            first_line[product.id] = line
            valid.append((line, self._stamped(product)))
        for start in range(0, len(valid), 100):
            chunk = valid[start : start + 100]
            stored = self.store.get_many([p.id for _, p in chunk])
            for _line, product in chunk:
                status, _ = self._write(product, stored.get(product.id))
                report.accepted += 1
                setattr(report, status, getattr(report, status) + 1)
        report.rejected.sort(key=lambda r: r["line"])
        return report

    def _stamped(self, product: Product) -> Product:
        if product.updated_at:
            return product
        return product.model_copy(update={"updated_at": _iso(self.clock.now())})

    def _write(self, product: Product, stored: StoredProduct | None) -> tuple[WriteStatus, StoredProduct]:
        for _ in range(MAX_ATTEMPTS):
            if stored is not None:
                if (stored.product.updated_at or "") > (product.updated_at or ""):
                    return "stale", stored
                if _same(stored.product, product):
                    return "unchanged", stored
            history = list(stored.price_history) if stored is not None else []
            if stored is None or (stored.product.price, stored.product.currency) != (product.price, product.currency):
                history.append(PricePoint(at=product.updated_at or "", price=product.price, currency=product.currency))
            new = StoredProduct(product, (stored.version if stored else 0) + 1, tuple(history[-MAX_PRICE_HISTORY:]))
            if self.store.put(new, stored.version if stored else None):
                return ("updated" if stored else "created"), new
            stored = self.store.get(product.id)  # lost the race: decide again against the winner's version
        raise CatalogConflict(f"product {product.id!r} kept changing under this write; retry")


def _same(a: Product, b: Product) -> bool:
    return a.model_dump(exclude={"updated_at"}) == b.model_dump(exclude={"updated_at"})


def _raw_id(raw: Any) -> str | None:
    value = raw.get("id") if isinstance(raw, dict) else None
    return str(value) if value not in (None, "") else None


def _iso(now: Any) -> str:
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
