"""SimilarItemsStore contract: one suite, run against the in-memory fake and (subclassed) the StateTable adapter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from chalicelib.recommendations.ports import SimilarItemsStore
from chalicelib.recommendations.similarity import NEIGHBOURS, STOCK_KEY, event_deltas
from tests.fakes.recommendations import InMemorySimilarItems
from tests.integration.conftest import moto_env  # noqa: F401 - the moto fixture, for the adapter's subclass

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def viewed(pid: str, recent: list[str], **props: object):
    return event_deltas(
        "Product Viewed", {"product_id": pid, "category": "tea", **props}, [{"product_id": r} for r in recent], []
    )


class SimilarItemsContract:
    @pytest.fixture
    def store(self) -> Iterator[SimilarItemsStore]:
        raise NotImplementedError

    def test_nothing_is_read_before_anything_is_learnt(self, store: SimilarItemsStore) -> None:
        assert store.read(["sim#a", "pop#*"]) == {}

    def test_an_event_updates_every_list_it_names_at_once(self, store: SimilarItemsStore) -> None:
        assert store.apply("e1", viewed("a", ["b"], name="A"), NOW) is True
        lists = store.read(["sim#a", "sim#b", "pop#*", "pop#tea"])
        assert lists["sim#a"]["n"] == {"b": 1.0} and lists["sim#a"]["card"]["name"] == "A"
        assert lists["sim#b"]["n"] == {"a": 1.0} and lists["sim#b"]["c"]["a"]["name"] == "A"
        assert lists["pop#*"]["n"] == {"a": 1.0} and lists["pop#tea"]["n"] == {"a": 1.0}

    def test_the_catalogs_out_of_stock_list_follows_each_change_and_a_replay_changes_nothing(
        self, store: SimilarItemsStore
    ) -> None:
        store.mark_stock("a", False, "2026-12-01T00:00:00Z")
        store.mark_stock("b", False, "2026-12-01T00:01:00Z")
        store.mark_stock("a", False, "2026-12-01T00:02:00Z")  # a replay keeps the first time
        assert store.read([STOCK_KEY])[STOCK_KEY]["ids"] == {
            "a": "2026-12-01T00:00:00Z",
            "b": "2026-12-01T00:01:00Z",
        }
        store.mark_stock("a", True, "2026-12-01T00:03:00Z")
        store.mark_stock("zz", True, "2026-12-01T00:03:00Z")  # restocking what was never out is nothing
        assert store.read([STOCK_KEY])[STOCK_KEY]["ids"] == {"b": "2026-12-01T00:01:00Z"}

    def test_the_same_event_applied_twice_counts_once(self, store: SimilarItemsStore) -> None:
        assert store.apply("e1", viewed("a", ["b"]), NOW) is True
        assert store.apply("e1", viewed("a", ["b"]), NOW) is False
        assert store.apply("e2", viewed("a", ["b"]), NOW) is True
        assert store.read(["sim#a"])["sim#a"]["n"] == {"b": 2.0}
        assert store.read(["sim#a"])["sim#a"]["t"] == 2.0

    def test_a_list_never_holds_more_than_its_bound(self, store: SimilarItemsStore) -> None:
        for n in range(NEIGHBOURS + 6):
            store.apply(f"e{n}", viewed("hub", [f"p{n}"]), NOW)
        store.apply("again", viewed("hub", ["p0"]), NOW)
        counts = store.read(["sim#hub"])["sim#hub"]["n"]
        assert len(counts) == NEIGHBOURS
        assert sum(counts.values()) == NEIGHBOURS + 7  # Space-Saving: evicted counts are inherited, none lost


class TestInMemorySimilarItems(SimilarItemsContract):
    @pytest.fixture
    def store(self) -> Iterator[SimilarItemsStore]:
        yield InMemorySimilarItems()


@pytest.mark.usefixtures("moto_env")
class TestDynamoSimilarItems(SimilarItemsContract):
    @pytest.fixture
    def store(self) -> Iterator[SimilarItemsStore]:
        from chalicelib.recommendations.adapters.dynamodb_similar_items import DynamoSimilarItems
        from chalicelib.shared.settings import get_settings

        yield DynamoSimilarItems(get_settings().state_table)

    def test_a_list_changed_by_another_consumer_is_read_again_not_overwritten(self, store) -> None:
        from chalicelib.shared.aws import client

        store.apply("e1", viewed("a", ["b"]), NOW)
        ddb = client("dynamodb")
        original = ddb.transact_write_items
        calls: list[int] = []

        def racing(**kwargs):
            if not calls:  # another consumer lands its own event on sim#a between our read and our write
                calls.append(1)
                store.apply("other", viewed("a", ["c"]), NOW)
            return original(**kwargs)

        ddb.transact_write_items = racing
        try:
            assert store.apply("e2", viewed("a", ["b"]), NOW) is True
        finally:
            ddb.transact_write_items = original
        assert store.read(["sim#a"])["sim#a"]["n"] == {"b": 2.0, "c": 1.0}
