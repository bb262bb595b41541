"""EventStore contract: the in-memory fake and the DynamoDB adapter store, order, delete and re-point events alike."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.tracking.ports import EventStore
from tests.factories import T0, tracked_event
from tests.fakes.tracking import FakeEventStore


class EventStoreContract:
    @pytest.fixture
    def store(self) -> EventStore:
        raise NotImplementedError

    def test_put_new_stores_an_event_once_and_refuses_its_duplicate(self, store: EventStore) -> None:
        assert store.put_new(tracked_event(1)) is True
        assert store.put_new(tracked_event(1, event="Other")) is False
        [stored] = store.history("p_one")
        assert stored.event == "Product Viewed"

    def test_put_many_overwrites_a_resent_key_instead_of_duplicating_it(self, store: EventStore) -> None:
        store.put_many([tracked_event(n) for n in range(30)])  # more than one write request
        store.put_many([tracked_event(3, event="Resent")])
        history = store.history("p_one", limit=100)
        assert len(history) == 30
        assert [e.event for e in history if e.message_id == "m3"] == ["Resent"]

    def test_put_new_many_stores_only_keys_not_stored_yet(self, store: EventStore) -> None:
        store.put_new(tracked_event(3))
        stored = store.put_new_many([tracked_event(n, event="Resent") for n in range(30)])  # > one request
        assert sorted(e.message_id for e in stored) == sorted(f"m{n}" for n in range(30) if n != 3)
        [original] = [e for e in store.history("p_one", limit=100) if e.message_id == "m3"]
        assert original.event == "Product Viewed"
        assert store.put_new_many([tracked_event(5, event="Forged")]) == []
        assert {e.event for e in store.history("p_one", limit=100)} == {"Product Viewed", "Resent"}

    def test_history_is_by_event_time_newest_first_and_limited(self, store: EventStore) -> None:
        store.put_many([tracked_event(n) for n in (2, 0, 1)] + [tracked_event(9, "p_other")])
        assert [e.message_id for e in store.history("p_one")] == ["m2", "m1", "m0"]
        assert [e.message_id for e in store.history("p_one", limit=2, newest_first=False)] == ["m0", "m1"]
        assert store.history("p_nobody") == []

    def test_history_returns_events_whole(self, store: EventStore) -> None:
        sent = tracked_event(1, properties={"sku": "A-1", "price": 9.5}, traits={"email": "a@b.example"}, flags=["bot"])
        store.put_new(sent)
        [stored] = store.history("p_one")
        assert stored == sent
        assert stored.timestamp == T0.replace(minute=1)

    def test_delete_removes_events_by_key(self, store: EventStore) -> None:
        store.put_many([tracked_event(n) for n in range(3)])
        store.delete([tracked_event(0).key, tracked_event(2).key, "web#never-stored"])
        assert [e.message_id for e in store.history("p_one")] == ["m1"]

    def test_repoint_moves_a_profiles_history_and_counts_it(self, store: EventStore) -> None:
        store.put_many([tracked_event(n, "p_loser") for n in range(3)] + [tracked_event(5, "p_winner")])
        assert store.repoint("p_loser", "p_winner") == 3
        assert store.history("p_loser") == []
        assert [e.message_id for e in store.history("p_winner")] == ["m5", "m2", "m1", "m0"]
        assert all(e.profile_id == "p_winner" for e in store.history("p_winner"))
        assert store.repoint("p_loser", "p_winner") == 0


class TestFakeEventStore(EventStoreContract):
    @pytest.fixture
    def store(self) -> EventStore:
        return FakeEventStore()


class TestDynamoEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, dynamo: Any) -> EventStore:
        from chalicelib.tracking.adapters.dynamodb_events import DynamoEventStore

        return DynamoEventStore(dynamo.events_table, dynamo.event_ttl_days)

    def test_put_new_many_reads_the_keys_once_per_100_and_writes_once_per_25(self, store: EventStore) -> None:
        from chalicelib.shared.aws import client

        calls: list[str] = []
        events = client("dynamodb").meta.events
        events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name), unique_id="count-ops")
        try:
            store.put_many([tracked_event(n) for n in range(10)])
            assert calls == ["BatchWriteItem"]
            calls.clear()
            store.put_new_many([tracked_event(n) for n in range(60)])  # 10 stored already, 50 new
            assert calls == ["BatchGetItem", "BatchWriteItem", "BatchWriteItem"]
        finally:
            events.unregister("before-call.dynamodb.*", unique_id="count-ops")
