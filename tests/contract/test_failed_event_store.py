"""FailedEventStore contract: bad rows keep why and the raw input (truncated), and list by day, newest first."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.tracking.ports import FailedEventStore
from tests.fakes.tracking import FakeFailedEventStore


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


class FailedEventStoreContract:
    @pytest.fixture
    def store(self) -> FailedEventStore:
        raise NotImplementedError

    def test_a_recorded_row_keeps_source_reason_and_raw_input(self, store: FailedEventStore) -> None:
        store.record("web", {"error": "invalid_field", "field": "event"}, {"event": 5})
        store.record(None, {"error": "poison_record"}, "not json")
        rows, cursor = store.list(today())
        assert cursor is None
        assert [(r["source_id"], r["reason"], r["raw"]) for r in rows] == [
            ("-", {"error": "poison_record"}, "not json"),
            ("web", {"error": "invalid_field", "field": "event"}, '{"event": 5}'),
        ]
        assert all(r["day"] == today() and not r["truncated"] and r["id"] and r["received_at"] for r in rows)

    def test_a_huge_raw_input_is_truncated_and_says_so(self, store: FailedEventStore) -> None:
        store.record("web", {"error": "payload_too_large"}, "x" * 20_000)
        [row], _ = store.list(today())
        assert row["truncated"] is True
        assert len(row["raw"]) == 16_000

    def test_rows_page_newest_first_with_a_cursor(self, store: FailedEventStore) -> None:
        for n in range(3):
            store.record("web", {"error": f"e{n}"}, {})
            time.sleep(0.002)  # ids carry the time to the microsecond
        first, cursor = store.list(today(), limit=2)
        assert [r["reason"]["error"] for r in first] == ["e2", "e1"]
        assert cursor is not None
        rest, cursor = store.list(today(), limit=2, cursor=cursor)
        assert [r["reason"]["error"] for r in rest] == ["e0"]
        assert cursor is None

    def test_another_day_has_no_rows(self, store: FailedEventStore) -> None:
        store.record("web", {"error": "e"}, {})
        assert store.list("2001-01-01") == ([], None)

    def test_a_persons_rows_are_found_and_erased_by_their_ids_and_stay_out_of_the_day_listing(
        self, store: FailedEventStore
    ) -> None:
        # GIVEN bad rows of two people: a refused message, a stored event that failed to fold, a stream record
        store.record("web", {"error": "invalid_field"}, {"userId": "u1", "anonymousId": "a1", "event": 5})
        store.record("web", {"error": "fold_failed"}, json.dumps({"profile_id": "p_one", "user_id": "u1"}))
        store.record(None, {"error": "poison_record"}, {"dynamodb": {"NewImage": {"profile_id": {"S": "p_one"}}}})
        store.record("web", {"error": "invalid_field"}, {"anonymousId": "a2", "traits": {"email": "X@Y.example"}})
        # THEN each is found by any of the ids it holds, and the day lists only the rows
        assert len(store.of_person(["user:u1"])) == 2
        assert len(store.of_person(["anon:a1", "profile:p_one"])) == 3
        assert [r["reason"]["error"] for r in store.of_person(["email:x@y.example"])] == ["invalid_field"]
        assert len(store.list(today(), limit=50)[0]) == 4
        # WHEN the first person's rows are erased through one of their ids
        assert store.erase_person(["user:u1", "profile:p_one"]) == 3
        # THEN none is left under any of their ids; the other person's row stays
        assert store.of_person(["user:u1", "anon:a1", "profile:p_one"]) == []
        [left] = store.list(today())[0]
        assert "a2" in left["raw"]


class TestFakeFailedEventStore(FailedEventStoreContract):
    @pytest.fixture
    def store(self) -> FailedEventStore:
        return FakeFailedEventStore()


class TestDynamoFailedEventStore(FailedEventStoreContract):
    @pytest.fixture
    def store(self, dynamo: Any) -> FailedEventStore:
        from chalicelib.tracking.adapters.dynamodb_events import DynamoFailedEventStore

        return DynamoFailedEventStore(dynamo.failed_events_table, dynamo.failed_event_ttl_days)

    def test_erasure_leaves_no_pointer_items_behind(self, store: FailedEventStore, dynamo: Any) -> None:
        from chalicelib.shared.aws import client

        store.record("web", {"error": "invalid_field"}, {"userId": "u1", "anonymousId": "a1", "event": 5})
        assert client("dynamodb").scan(TableName=dynamo.failed_events_table)["Count"] == 3  # row + 2 pointers
        store.erase_person(["user:u1"])
        assert client("dynamodb").scan(TableName=dynamo.failed_events_table)["Count"] == 0
