"""Catalog ports' contract: one suite per port, run against the in-memory fake and (subclassed) the DynamoDB adapter
on moto, so service tests on the fakes can trust the adapters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.catalog.model import PricePoint, Product
from chalicelib.catalog.ports import CatalogStore, InterestIndex, InterestSignal, StoredProduct
from tests.fakes.catalog import InMemoryCatalogStore, InMemoryInterestIndex
from tests.integration.conftest import moto_env  # noqa: F401 - the moto fixture, for the adapters' subclasses

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def stored(product_id: str, version: int = 1, price: float = 100.0, stock: int | None = 5) -> StoredProduct:
    product = Product(id=product_id, name=f"Product {product_id}", price=price, currency="EUR", stock=stock)
    return StoredProduct(product, version, (PricePoint(at="2026-03-01T00:00:00.000Z", price=price, currency="EUR"),))


class CatalogStoreContract:
    @pytest.fixture
    def store(self) -> Iterator[CatalogStore]:
        raise NotImplementedError

    def test_a_product_reads_back_equal_with_its_version_and_history(self, store: CatalogStore) -> None:
        assert store.put(stored("p1"), None) is True
        assert store.get("p1") == stored("p1")
        assert store.get("nope") is None

    def test_a_write_needs_the_version_it_read(self, store: CatalogStore) -> None:
        assert store.put(stored("p1"), None)
        assert store.put(stored("p1", 2, price=90), None) is False  # created already
        assert store.put(stored("p1", 2, price=90), 7) is False  # someone else's version
        assert store.put(stored("p1", 2, price=90), 1) is True
        assert store.put(stored("p1", 3, price=80), 1) is False  # a second writer that read version 1 loses
        current = store.get("p1")
        assert current is not None and current.version == 2 and current.product.price == 90

    def test_get_many_returns_the_ones_that_exist(self, store: CatalogStore) -> None:
        for pid in ("a", "b", "c"):
            store.put(stored(pid), None)
        assert sorted(store.get_many(["a", "c", "x", "a"])) == ["a", "c"]

    def test_pages_cover_every_product_once(self, store: CatalogStore) -> None:
        ids = [f"p{n:02d}" for n in range(7)]
        for pid in ids:
            store.put(stored(pid), None)
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            page, cursor = store.page(3, cursor)
            seen += [p.product.id for p in page]
            if cursor is None:
                break
        assert sorted(seen) == ids


class InterestIndexContract:
    @pytest.fixture
    def index(self) -> Iterator[InterestIndex]:
        raise NotImplementedError

    def test_interest_is_found_by_product_with_the_latest_time_per_kind(self, index: InterestIndex) -> None:
        later = NOW + timedelta(hours=2)
        writes = index.record(
            "prof-a",
            [
                InterestSignal("p1", "viewed", NOW),
                InterestSignal("p1", "carted", later),
                InterestSignal("p2", "viewed", NOW),
            ],
            NOW + timedelta(days=90),
        )
        assert writes == 2  # one write per (person, product)
        index.record("prof-b", [InterestSignal("p1", "wishlisted", NOW)], NOW + timedelta(days=90))
        people, cursor = index.interested("p1", 10, None)
        assert cursor is None
        by_person = {i.profile_id: i for i in people}
        assert sorted(by_person) == ["prof-a", "prof-b"]
        assert by_person["prof-a"].viewed_at == "2026-03-02T01:00:00.000Z"
        assert by_person["prof-a"].latest(["viewed", "carted"]) == "2026-03-02T03:00:00.000Z"
        assert by_person["prof-b"].latest(["viewed"]) is None

    def test_a_replayed_record_changes_nothing_and_a_purchase_forgets(self, index: InterestIndex) -> None:
        signal = [InterestSignal("p1", "viewed", NOW)]
        index.record("prof-a", signal, NOW + timedelta(days=90))
        index.record("prof-a", signal, NOW + timedelta(days=90))
        assert len(index.interested("p1", 10, None)[0]) == 1
        index.record("prof-b", [InterestSignal("p2", "viewed", NOW)], NOW + timedelta(days=90))
        index.forget("prof-a", ["p1", "p2", "never-seen"])
        assert index.interested("p1", 10, None) == ([], None)
        assert [i.profile_id for i in index.interested("p2", 10, None)[0]] == ["prof-b"]  # only the buyer's

    def test_pages_cover_everyone_once(self, index: InterestIndex) -> None:
        for n in range(7):
            index.record(f"prof-{n}", [InterestSignal("p1", "viewed", NOW)], NOW + timedelta(days=90))
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            page, cursor = index.interested("p1", 3, cursor)
            seen += [i.profile_id for i in page]
            if cursor is None:
                break
        assert sorted(seen) == [f"prof-{n}" for n in range(7)]


class TestInMemoryCatalogStore(CatalogStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[CatalogStore]:
        yield InMemoryCatalogStore()


class TestInMemoryInterestIndex(InterestIndexContract):
    @pytest.fixture
    def index(self) -> Iterator[InterestIndex]:
        yield InMemoryInterestIndex()


@pytest.mark.usefixtures("moto_env")
class TestDynamoCatalogStore(CatalogStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[CatalogStore]:
        from chalicelib.catalog.adapters.dynamodb_catalog import DynamoCatalogStore
        from chalicelib.shared.settings import get_settings

        yield DynamoCatalogStore(get_settings().catalog_table)


@pytest.mark.usefixtures("moto_env")
class TestDynamoInterestIndex(InterestIndexContract):
    @pytest.fixture
    def index(self) -> Iterator[InterestIndex]:
        from chalicelib.catalog.adapters.dynamodb_catalog import DynamoInterestIndex
        from chalicelib.shared.settings import get_settings

        yield DynamoInterestIndex(get_settings().state_table)
