"""Catalog: the shop's products (authoritative name, price, URL, image, stock), their price history, bulk loads, and
the index of who showed interest in which product (for back-in-stock, price-drop and low-stock triggers).

- `model`: `Product`, `Variant`, `validate_product` (ISO 4217, no negative price or stock, URLs on the shop's sites);
- `bulk`: reading CSV / JSONL uploads; `service`: `CatalogService` (upsert, bulk load with a per-line report);
- `changes`: `ProductChange` from the catalog stream, the reference price for drops;
- `ports`: `CatalogStore`, `InterestIndex`, `StoredProduct`, `Interest`.
"""

from chalicelib.catalog.changes import ProductChange, from_stream_record, reference_price
from chalicelib.catalog.exceptions import ProductError, UploadError
from chalicelib.catalog.model import Product, in_stock, validate_product
from chalicelib.catalog.ports import CatalogStore, Interest, InterestIndex, InterestSignal, StoredProduct
from chalicelib.catalog.service import BulkReport, CatalogConflict, CatalogService

__all__ = [
    "BulkReport",
    "CatalogConflict",
    "CatalogService",
    "CatalogStore",
    "Interest",
    "InterestIndex",
    "InterestSignal",
    "Product",
    "ProductChange",
    "ProductError",
    "StoredProduct",
    "UploadError",
    "from_stream_record",
    "in_stock",
    "reference_price",
    "validate_product",
]
