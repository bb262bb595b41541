"""EventStore contract: the in-memory fake and the DynamoDB adapter store, order, delete and re-point events alike."""

from __future__ import annotations

from datetime import timedelta
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

    def test_put_batch_stores_each_key_once_and_a_resent_batch_adds_nothing(self, store: EventStore) -> None:
        batch = [tracked_event(n) for n in range(30)] + [tracked_event(3)]  # a batch repeating a messageId
        stored = store.put_batch(batch)
        assert sorted(e.message_id for e in stored) == sorted(f"m{n}" for n in range(30))
        store.put_batch(batch)  # an SDK's retry of the same batch
        assert sorted(e.message_id for e in store.history("p_one", limit=100)) == sorted(f"m{n}" for n in range(30))

    def test_put_batch_of_several_profiles_keeps_each_ones_history(self, store: EventStore) -> None:
        store.put_batch([tracked_event(n, f"p_{n % 3}") for n in range(9)])
        assert [e.message_id for e in store.history("p_1")] == ["m7", "m4", "m1"]
        assert all(e.profile_id == "p_1" for e in store.history("p_1"))

    def test_a_messageid_in_two_batches_is_listed_once(self, store: EventStore) -> None:
        store.put_batch([tracked_event(n) for n in range(3)])
        store.put_batch([tracked_event(n) for n in range(2, 5)])  # m2 again, in another composition
        assert [e.message_id for e in store.history("p_one")] == ["m4", "m3", "m2", "m1", "m0"]

    def test_history_limits_by_event_time_across_batches_whose_times_interleave(self, store: EventStore) -> None:
        store.put_batch([tracked_event(n) for n in (0, 5, 9)])
        store.put_batch([tracked_event(n) for n in (1, 6, 7)])
        store.put_new(tracked_event(8))
        assert [e.message_id for e in store.history("p_one", limit=4)] == ["m9", "m8", "m7", "m6"]
        assert [e.message_id for e in store.history("p_one", limit=3, newest_first=False)] == ["m0", "m1", "m5"]

    def test_repoint_moves_batched_history_whole_and_counts_its_events(self, store: EventStore) -> None:
        store.put_batch([tracked_event(n, "p_loser") for n in range(3)])
        store.put_new(tracked_event(4, "p_loser"))
        store.put_batch([tracked_event(5, "p_winner"), tracked_event(6, "p_winner")])
        assert store.repoint("p_loser", "p_winner") == 4
        assert store.history("p_loser") == []
        assert [e.message_id for e in store.history("p_winner")] == ["m6", "m5", "m4", "m2", "m1", "m0"]
        assert all(e.profile_id == "p_winner" for e in store.history("p_winner"))

    def test_history_reads_the_partitions_of_the_profiles_merged_in(self, store: EventStore) -> None:
        # a merge leaves the loser's items in place; the winner's history takes them (each key once), by time
        store.put_batch([tracked_event(n, "p_loser") for n in (0, 3, 7)])
        store.put_batch([tracked_event(n, "p_winner") for n in (1, 5)])
        store.put_new(tracked_event(8, "p_older_loser"))
        store.put_new(tracked_event(9, "p_stranger"))
        merged = ["p_loser", "p_older_loser"]
        assert [e.message_id for e in store.history("p_winner", merged_from=merged)] == [
            "m8",
            "m7",
            "m5",
            "m3",
            "m1",
            "m0",
        ]
        assert [e.message_id for e in store.history("p_winner", limit=3, merged_from=merged)] == ["m8", "m7", "m5"]
        assert [e.message_id for e in store.history("p_winner", limit=2, newest_first=False, merged_from=merged)] == [
            "m0",
            "m1",
        ]
        assert [e.message_id for e in store.history("p_winner")] == ["m5", "m1"]

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
        store.delete([tracked_event(0).stored_in(), tracked_event(2).stored_in(), tracked_event(9).stored_in()])
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

    @staticmethod
    def _count_calls(body: Any) -> list[str]:
        from chalicelib.shared.aws import client

        calls: list[str] = []
        events = client("dynamodb").meta.events
        events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name), unique_id="count-ops")
        try:
            body()
        finally:
            events.unregister("before-call.dynamodb.*", unique_id="count-ops")
        return calls

    @staticmethod
    def _items(dynamo: Any) -> list[dict[str, Any]]:
        from chalicelib.shared.aws import client

        return client("dynamodb").scan(TableName=dynamo.events_table)["Items"]

    def test_put_batch_writes_with_no_read_first(self, store: EventStore) -> None:
        calls = self._count_calls(lambda: store.put_batch([tracked_event(n) for n in range(60)]))
        assert calls == ["BatchWriteItem"]  # one item; no BatchGetItem of the keys any more

    def test_a_batch_of_one_visitor_is_one_item(self, store: EventStore, dynamo: Any) -> None:
        store.put_batch([tracked_event(n) for n in range(20)])
        [item] = self._items(dynamo)
        assert item["pk"]["S"].startswith("g#") and item["n"]["N"] == "20" and item["types"]["S"] == "track:20"

    def test_a_server_batch_of_20_users_is_20_items_each_an_events_own(self, store: EventStore, dynamo: Any) -> None:
        calls = self._count_calls(lambda: store.put_batch([tracked_event(n, f"p_{n}") for n in range(20)]))
        assert calls == ["BatchWriteItem"]
        items = self._items(dynamo)
        assert sorted(i["pk"]["S"] for i in items) == sorted(f"web#m{n}" for n in range(20))  # lone events: as before

    def test_the_same_batch_resent_rewrites_the_same_item(self, store: EventStore, dynamo: Any) -> None:
        batch = [tracked_event(n) for n in range(5)]
        store.put_batch(batch)
        store.put_batch(list(reversed(batch)))
        [item] = self._items(dynamo)
        assert item["n"]["N"] == "5"

    def test_a_group_is_deleted_by_the_key_its_stream_events_name(self, store: EventStore, dynamo: Any) -> None:
        from chalicelib.tracking.events import StreamEvent

        store.put_batch([tracked_event(n) for n in range(3)])
        store.put_new(tracked_event(7))
        group = next(i for i in self._items(dynamo) if "n" in i)
        events = StreamEvent.all_from_stream_image(group)
        assert {e.stored_in() for e in events} == {(group["profile_id"]["S"], group["ts_key"]["S"])}
        store.delete([e.stored_in() for e in events])
        assert [e.message_id for e in store.history("p_one")] == ["m7"]

    def test_put_many_of_part_of_a_group_splits_it_by_profile(self, store: EventStore, dynamo: Any) -> None:
        from chalicelib.tracking.events import StreamEvent

        store.put_batch([tracked_event(n) for n in range(4)])
        [group] = self._items(dynamo)
        events = StreamEvent.all_from_stream_image(group)
        moved = [e for e in events if e.message_id in ("m1", "m2")]
        for event in moved:
            event.profile_id = "p_other"
        store.put_many(moved)
        assert [e.message_id for e in store.history("p_one")] == ["m3", "m0"]
        assert [e.message_id for e in store.history("p_other")] == ["m2", "m1"]
        kept = next(i for i in self._items(dynamo) if i["pk"] == group["pk"])
        assert kept["profile_id"]["S"] == "p_one" and kept["n"]["N"] == "2"  # same pk: a MODIFY, never re-folded

    def test_repoint_moves_items_to_the_winners_partition_marked_as_moved(self, store: EventStore, dynamo: Any) -> None:
        store.put_batch([tracked_event(n, "p_loser") for n in range(3)])
        store.put_new(tracked_event(4, "p_loser"))
        store.repoint("p_loser", "p_winner")
        items = self._items(dynamo)
        assert {i["profile_id"]["S"] for i in items} == {"p_winner"}  # the old keys are deleted, not left behind
        assert {i["moved_from"]["S"] for i in items} == {"p_loser"} and len(items) == 2

    def test_put_many_of_a_reassigned_stream_event_moves_it_and_tells_it_where(
        self, store: EventStore, dynamo: Any
    ) -> None:
        from chalicelib.tracking.events import StreamEvent

        store.put_new(tracked_event(1))
        [item] = self._items(dynamo)
        [event] = StreamEvent.all_from_stream_image(item)
        event.profile_id = "p_winner"
        store.put_many([event])
        [moved] = self._items(dynamo)
        assert (moved["profile_id"]["S"], moved["moved_from"]["S"]) == ("p_winner", "p_one")
        assert event.stored_in() == ("p_winner", item["ts_key"]["S"])  # the fold lists it where it now is

    def test_a_retried_single_event_is_refused_by_its_key_though_its_corrected_time_moved(
        self, store: EventStore
    ) -> None:
        # The corrected time of a re-delivery counts from its own receivedAt: a few ms later, the same hour.
        assert store.put_new(tracked_event(1)) is True
        later = tracked_event(1)
        later.timestamp += timedelta(milliseconds=40)
        assert store.put_new(later) is False
        assert [e.message_id for e in store.history("p_one")] == ["m1"]

    def test_history_of_lone_events_an_hour_apart_is_one_query_page(self, store: EventStore) -> None:
        store.put_many([tracked_event(n, at=T0 + timedelta(hours=n)) for n in range(30)])
        calls = self._count_calls(lambda: store.history("p_one", limit=10))
        assert calls == ["Query"]  # `limit + 1` items: the 11th is an hour older than the 10th event, so none newer
        assert [e.message_id for e in store.history("p_one", limit=10)] == [f"m{n}" for n in range(29, 19, -1)]
