"""Segment sizes from the members stream against an in-memory counter: once per record, whatever Lambda re-delivers."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.segments.sizes import MAX_SEGMENTS_PER_WRITE, SegmentSizeService, size_deltas
from chalicelib.shared.clock import FakeClock
from tests.fakes.segments import InMemorySegmentSizeCounter

CART = "cart_abandoners"
VIP = "vip"


def change(sequence: int, kind: str, segment_id: str, profile_id: str = "p1") -> dict[str, Any]:
    """A KEYS_ONLY members-stream record as Lambda delivers it."""
    keys = {"segment_id": {"S": segment_id}, "profile_id": {"S": profile_id}}
    return {
        "eventName": kind,
        "dynamodb": {"SequenceNumber": f"{sequence:021d}", "Keys": keys, "StreamViewType": "KEYS_ONLY"},
    }


@pytest.fixture
def counter() -> InMemorySegmentSizeCounter:
    return InMemorySegmentSizeCounter()


@pytest.fixture
def service(counter: InMemorySegmentSizeCounter) -> SegmentSizeService:
    return SegmentSizeService(counter, FakeClock())


def test_sizes_follow_entries_exits_and_re_entries(
    counter: InMemorySegmentSizeCounter, service: SegmentSizeService
) -> None:
    # GIVEN p1 enters, leaves and enters again; p2 enters; p1 also enters vip
    batch = [
        change(1, "INSERT", CART, "p1"),
        change(2, "INSERT", CART, "p2"),
        change(3, "REMOVE", CART, "p1"),
        change(4, "INSERT", CART, "p1"),
        change(5, "INSERT", VIP, "p1"),
    ]
    # WHEN the batch is counted
    assert service.count(batch) == []
    # THEN each size is the number of members, in one write
    assert counter.size == {CART: 2, VIP: 1}
    assert counter.writes == 1


def test_population_rows_and_rewrites_change_no_size(
    counter: InMemorySegmentSizeCounter, service: SegmentSizeService
) -> None:
    batch = [
        change(1, "INSERT", "$customers#2", "b1"),
        change(2, "MODIFY", "$customers#2", "b1"),
        change(3, "REMOVE", "$customers#2", "b1"),
        change(4, "MODIFY", CART, "p1"),  # a member item rewritten: still one member
    ]
    assert service.count(batch) == []
    assert counter.size == {} and counter.writes == 0  # nothing to count: not even a marker is written


def test_a_segment_emptied_within_one_batch_shows_zero(
    counter: InMemorySegmentSizeCounter, service: SegmentSizeService
) -> None:
    service.count([change(1, "INSERT", CART), change(2, "REMOVE", CART)])
    assert counter.size == {CART: 0}


def test_a_replayed_stream_batch_does_not_double_count(
    counter: InMemorySegmentSizeCounter, service: SegmentSizeService
) -> None:
    # GIVEN a counted batch
    batch = [change(n, "INSERT", CART, f"p{n}") for n in range(1, 4)]
    service.count(batch)
    # WHEN Lambda delivers the same batch again (a timeout after the write), and again
    assert service.count(batch) == []
    assert service.count(batch) == []
    # THEN it counted once
    assert counter.size == {CART: 3}


def test_a_longer_re_delivery_counts_only_the_new_records(
    counter: InMemorySegmentSizeCounter, service: SegmentSizeService
) -> None:
    first = [change(n, "INSERT", CART, f"p{n}") for n in range(1, 4)]
    service.count(first)
    # WHEN the retry starts at the same record but carries more (records arrived meanwhile)
    superset = [*first, change(4, "REMOVE", CART, "p1"), change(5, "INSERT", VIP, "p5")]
    service.count(superset)
    service.count(superset)
    # THEN only the records past the first delivery's last are counted, once
    assert counter.size == {CART: 2, VIP: 1}


def test_a_shorter_re_delivery_counts_nothing_and_the_rest_is_not_counted_twice(
    counter: InMemorySegmentSizeCounter, service: SegmentSizeService
) -> None:
    batch = [change(n, "INSERT", CART, f"p{n}") for n in range(1, 5)]
    service.count(batch)
    service.count(batch[:2])  # a smaller batch from the same first record
    assert counter.size == {CART: 4}


def test_a_storage_failure_asks_for_the_whole_batch_and_the_retry_counts_it_once(
    counter: InMemorySegmentSizeCounter, service: SegmentSizeService
) -> None:
    batch = [change(1, "INSERT", CART), change(2, "INSERT", VIP)]
    counter.fail_next = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "Transact")
    assert service.count(batch) == [r["dynamodb"]["SequenceNumber"] for r in batch]
    assert counter.size == {}
    assert service.count(batch) == []
    assert counter.size == {CART: 1, VIP: 1}


def test_a_bug_raises_rather_than_skipping_records(
    counter: InMemorySegmentSizeCounter, service: SegmentSizeService
) -> None:
    counter.fail_next = TypeError("a bug")
    with pytest.raises(TypeError):
        service.count([change(1, "INSERT", CART)])


def test_a_batch_touching_more_segments_than_one_write_holds_is_counted_in_runs_once(
    counter: InMemorySegmentSizeCounter, service: SegmentSizeService
) -> None:
    # GIVEN a batch over more segments than one transaction can hold counters for
    segments = [f"s{n:03d}" for n in range(MAX_SEGMENTS_PER_WRITE + 30)]
    batch = [change(n, "INSERT", segment_id) for n, segment_id in enumerate(segments, start=1)]
    assert len(size_deltas(batch, max_segments=MAX_SEGMENTS_PER_WRITE).deltas) == MAX_SEGMENTS_PER_WRITE
    # WHEN it is counted (two runs), then delivered again, longer
    assert service.count(batch[: MAX_SEGMENTS_PER_WRITE + 10]) == []
    assert counter.writes == 2
    service.count([*batch, change(len(batch) + 1, "REMOVE", segments[0])])
    # THEN both runs are found by their markers, only the new records make a third write, each counted once
    assert counter.writes == 3
    assert counter.size == dict.fromkeys(segments, 1) | {segments[0]: 0}


def test_a_failure_between_runs_retries_only_the_uncounted_run(counter: InMemorySegmentSizeCounter) -> None:
    class FailSecond(InMemorySegmentSizeCounter):
        calls = 0

        def add_batch(self, batch: Any, now: Any) -> str | None:
            self.calls += 1
            if self.calls == 2:
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "Transact")
            return super().add_batch(batch, now)

    flaky = FailSecond()
    service = SegmentSizeService(flaky, FakeClock())
    segments = [f"s{n:03d}" for n in range(MAX_SEGMENTS_PER_WRITE + 5)]
    batch = [change(n, "INSERT", segment_id) for n, segment_id in enumerate(segments, start=1)]
    assert len(service.count(batch)) == len(batch)  # the first run is written, the second failed
    assert service.count(batch) == []
    assert flaky.size == dict.fromkeys(segments, 1)
