"""Which catalog changes make a product buyable or not (the recommendations' out-of-stock list follows them)."""

from __future__ import annotations

from chalicelib.catalog.changes import ProductChange, stock_flips
from chalicelib.catalog.model import Product
from chalicelib.catalog.ports import StoredProduct

AT = "2026-12-01T10:00:00Z"


def stored(stock: int | None, availability: str | None = None, version: int = 1) -> StoredProduct:
    product = Product.model_validate(
        {
            "id": "p1",
            "name": "Tee",
            "price": 10,
            "currency": "EUR",
            "stock": stock,
            "availability": availability,
            "updated_at": AT,
        }
    )
    return StoredProduct(product=product, version=version)


def test_selling_out_restocking_and_discontinuing_flip_and_nothing_else_does() -> None:
    changes = [
        ProductChange(stored(2), stored(0, version=2)),  # sold out
        ProductChange(stored(0), stored(5, version=2)),  # back
        ProductChange(stored(5), stored(3, version=2)),  # still buyable
        ProductChange(stored(None), stored(None, "discontinued", version=2)),
        ProductChange(None, stored(0)),  # a new product that arrives sold out
        ProductChange(None, stored(4)),  # a new buyable product: nothing to undo
    ]
    at = changes[0].at  # the product's own updated_at, normalised by the model
    assert stock_flips(changes) == [("p1", False, at), ("p1", True, at), ("p1", False, at), ("p1", False, at)]
