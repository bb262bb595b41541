"""Segment membership use case against an in-memory store: entries, exits, replays, erasures, failures, population."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.segments.membership import SegmentMembershipService
from chalicelib.tracking.ports import FailedEventStore
from tests.fakes.segments import InMemorySegmentStore

CART = "cart_abandoners"
VIP = "vip"


class FailedRecords(FailedEventStore):
    """A FailedEventStore that keeps what was parked."""

    def __init__(self) -> None:
        self.parked: list[tuple[str | None, dict[str, Any], Any]] = []

    def record(self, source_id: str | None, reason: dict[str, Any], raw: Any) -> None:
        self.parked.append((source_id, reason, raw))

    def list(self, day: str, limit: int = 50, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        return [], None


def image(
    profile_id: str,
    version: int,
    *segments: str,
    orders: int = 0,
    revenue: float = 0.0,
    merged_into: str | None = None,
    erased: bool = False,
) -> dict[str, Any]:
    """A profiles-table stream image (low-level form, JSON body as items written before MessagePack bodies)."""
    body: dict[str, Any] = {
        "profile_id": profile_id,
        "segments": sorted(segments),
        "computed": {"orders": orders, "revenue": revenue},
        "activity": {"last_order_ts": 1_772_000_000.0} if orders else {},
        "updated_at": f"2026-03-02T12:00:{version:02d}.000Z",
    }
    item: dict[str, Any] = {
        "profile_id": {"S": profile_id},
        "version": {"N": str(version)},
        "body": {"S": json.dumps(body)},
    }
    if merged_into:
        item["merged_into"] = {"S": merged_into}
    if erased:
        item["erased_at"] = {"S": "2026-03-02T13:00:00.000Z"}
    return item


def record(sequence: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    data: dict[str, Any] = {"SequenceNumber": sequence, "ApproximateCreationDateTime": 1_772_452_800}
    if old is not None:
        data["OldImage"] = old
    if new is not None:
        data["NewImage"] = new
    return {"eventName": name, "dynamodb": data}


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "TransactWriteItems")


@pytest.fixture
def store() -> InMemorySegmentStore:
    return InMemorySegmentStore()


@pytest.fixture
def service(store: InMemorySegmentStore) -> SegmentMembershipService:
    return SegmentMembershipService(store, FailedRecords())


def test_a_profile_entering_a_segment_becomes_a_member_and_counts_once(
    store: InMemorySegmentStore, service: SegmentMembershipService
) -> None:
    # GIVEN a new profile that the fold put in the cart segment
    batch = [record("1", None, image("p1", 1, CART))]
    # WHEN the batch is applied
    deferred = service.apply(batch)
    # THEN it is a member, the size counts it, and nothing is retried
    assert deferred == []
    assert store.sizes() == {CART: 1}
    assert [m["profile_id"] for m in store.members(CART)[0]] == ["p1"]
    assert store.members(CART)[0][0]["version"] == 1


def test_a_replayed_stream_batch_does_not_double_count(
    store: InMemorySegmentStore, service: SegmentMembershipService
) -> None:
    # GIVEN a batch with an entry and, later, an exit of another profile
    batch = [
        record("1", None, image("p1", 1, CART)),
        record("2", None, image("p2", 1, CART)),
        record("3", image("p2", 1, CART), image("p2", 2)),
    ]
    service.apply(batch)
    # WHEN Lambda delivers the last record again (a retry after a timeout), twice
    for _ in range(2):
        assert service.apply(batch[-1:]) == []
        # THEN the conditional write finds the exit already done: nothing is counted again
        assert (service.last_stats.entered, service.last_stats.left, service.last_stats.unchanged) == (0, 0, 1)
    assert store.sizes() == {CART: 1}
    # WHEN the whole batch is replayed from the start
    assert service.apply(batch) == []
    # THEN it converges on the same members, and the size still equals the number of membership items
    assert store.sizes() == {CART: 1}
    assert [m["profile_id"] for m in store.members(CART)[0]] == ["p1"]


def test_leaving_a_segment_removes_the_member_and_decrements_the_size(
    store: InMemorySegmentStore, service: SegmentMembershipService
) -> None:
    service.apply([record("1", None, image("p1", 1, CART, VIP))])
    service.apply([record("2", image("p1", 1, CART, VIP), image("p1", 2, VIP))])
    assert store.sizes() == {CART: 0, VIP: 1}
    assert store.members(CART)[0] == []
    assert (service.last_stats.entered, service.last_stats.left) == (0, 1)


def test_a_merged_away_profile_leaves_every_segment(
    store: InMemorySegmentStore, service: SegmentMembershipService
) -> None:
    service.apply([record("1", None, image("anon", 1, CART))])
    service.apply([record("2", image("anon", 1, CART), image("anon", 2, CART, merged_into="user"))])
    assert store.sizes() == {CART: 0}


def test_an_erased_profile_leaves_once_although_the_erasure_deleted_its_items(
    store: InMemorySegmentStore, service: SegmentMembershipService
) -> None:
    # GIVEN a member whose membership item the erasure already deleted
    service.apply([record("1", None, image("p1", 1, CART))])
    del store.items[(CART, "p1")]
    tombstone = [record("2", image("p1", 1, CART), image("p1", 2, CART, erased=True))]
    # WHEN the tombstone record arrives, and again (a replay)
    service.apply(tombstone)
    service.apply(tombstone)
    # THEN the exit is counted exactly once
    assert store.sizes() == {CART: 0}


def test_a_storage_failure_defers_the_record_and_every_later_one(
    store: InMemorySegmentStore, service: SegmentMembershipService
) -> None:
    # GIVEN three entries, the second of which hits throttling
    batch = [record(str(n), None, image(f"p{n}", 1, CART)) for n in (1, 2, 3)]
    store.fail_once["p2"] = throttled()
    # WHEN the batch is applied
    deferred = service.apply(batch)
    # THEN the failing record and the rest are returned for retry, in order
    assert deferred == ["2", "3"]
    assert service.last_stats.failed_records == 2
    # AND the retry (Lambda resumes at the first deferred record) completes the work exactly once
    assert service.apply([r for r in batch if r["dynamodb"]["SequenceNumber"] in deferred]) == []
    assert store.sizes() == {CART: 3}


def test_an_unreadable_record_is_parked_and_the_batch_goes_on(store: InMemorySegmentStore) -> None:
    failed = FailedRecords()
    service = SegmentMembershipService(store, failed)
    broken = image("p1", 1, CART)
    broken["body"] = {"S": "{not json"}
    deferred = service.apply([record("1", None, broken), record("2", None, image("p2", 1, CART))])
    assert deferred == []
    assert service.last_stats.poison == 1
    assert [reason["error"] for _, reason, _ in failed.parked] == ["segment_record_failed"]
    assert store.sizes() == {CART: 1}


def test_buyers_join_the_customer_population_and_merged_profiles_leave_it(
    store: InMemorySegmentStore, service: SegmentMembershipService
) -> None:
    service.apply([record("1", None, image("buyer", 1, orders=2, revenue=80.0))])
    assert [(row.profile_id, row.orders, row.revenue) for row in store.customers()] == [("buyer", 2, 80.0)]
    service.apply([record("2", image("buyer", 1, orders=2), image("buyer", 2, orders=2, merged_into="other"))])
    assert list(store.customers()) == []


def test_a_change_to_bookkeeping_only_writes_nothing(
    store: InMemorySegmentStore, service: SegmentMembershipService
) -> None:
    service.apply([record("1", None, image("p1", 1, CART, orders=1))])
    writes = service.last_stats.customers_written
    same_body = image("p1", 1, CART, orders=1)
    same_body["version"] = {"N": "2"}
    service.apply([record("2", image("p1", 1, CART, orders=1), same_body)])
    assert (service.last_stats.entered, service.last_stats.left, service.last_stats.customers_written) == (0, 0, 0)
    assert writes == 1
