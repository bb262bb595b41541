"""SegmentSizeCounter contract: the in-memory fake and (subclassed) the DynamoDB adapter on moto count a batch once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from chalicelib.segments.ports import SegmentSizeCounter
from chalicelib.segments.sizes import SizeDeltas
from tests.fakes.segments import InMemorySegmentSizeCounter
from tests.integration.conftest import moto_env  # noqa: F401 - the moto fixture, for the adapter's subclass

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def batch(first: str, last: str, **deltas: int) -> SizeDeltas:
    return SizeDeltas(first_sequence=first, last_sequence=last, deltas=dict(deltas))


class SegmentSizeCounterContract:
    @pytest.fixture
    def counter(self) -> Iterator[SegmentSizeCounter]:
        raise NotImplementedError

    @pytest.fixture
    def sizes(self, counter: SegmentSizeCounter) -> Callable[[], dict[str, int]]:
        raise NotImplementedError

    def test_a_batch_is_added_once_under_its_first_sequence(
        self, counter: SegmentSizeCounter, sizes: Callable[[], dict[str, int]]
    ) -> None:
        assert counter.add_batch(batch("100", "105", vip=2, cart=-1), NOW) is None
        assert counter.add_batch(batch("100", "107", vip=5), NOW) == "105"  # a re-delivery: counted up to 105
        assert counter.add_batch(batch("106", "107", vip=1, cart=0), NOW) is None
        assert sizes() == {"vip": 3, "cart": -1}

    def test_a_batch_with_nothing_to_count_writes_nothing(
        self, counter: SegmentSizeCounter, sizes: Callable[[], dict[str, int]]
    ) -> None:
        assert counter.add_batch(batch("100", "105"), NOW) is None
        assert counter.add_batch(batch("100", "105", vip=1), NOW) is None  # no marker was left by the empty one
        assert sizes() == {"vip": 1}


class TestInMemorySegmentSizeCounter(SegmentSizeCounterContract):
    @pytest.fixture
    def counter(self) -> Iterator[SegmentSizeCounter]:
        yield InMemorySegmentSizeCounter()

    @pytest.fixture
    def sizes(self, counter: SegmentSizeCounter) -> Callable[[], dict[str, int]]:
        assert isinstance(counter, InMemorySegmentSizeCounter)
        return lambda: dict(counter.size)


@pytest.mark.usefixtures("moto_env")
class TestDynamoSegmentSizeCounter(SegmentSizeCounterContract):
    @pytest.fixture
    def counter(self) -> Iterator[SegmentSizeCounter]:
        from chalicelib.bootstrap import get_segment_size_service

        yield get_segment_size_service().counter

    @pytest.fixture
    def sizes(self, counter: SegmentSizeCounter) -> Callable[[], dict[str, int]]:
        from chalicelib.bootstrap import get_segment_store

        return get_segment_store().sizes
