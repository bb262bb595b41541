"""SegmentStore contract: one suite, run against the in-memory fake and (subclassed) the DynamoDB adapter on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.segments.ports import CustomerRow, SegmentStore
from tests.fakes.segments import InMemorySegmentStore
from tests.integration.conftest import moto_env  # noqa: F401 - the moto fixture, for the adapter's subclass

SEG = "cart_abandoners"
AT = "2026-03-02T12:00:00.000Z"


def row(profile_id: str, version: int, orders: int = 1, **fields: Any) -> CustomerRow:
    return CustomerRow(
        profile_id=profile_id, version=version, last_order_ts=1.5e9, orders=orders, revenue=10.5, **fields
    )


class SegmentStoreContract:
    """What the membership use case relies on, whatever the backend."""

    @pytest.fixture
    def store(self) -> Iterator[SegmentStore]:
        raise NotImplementedError

    def test_entering_adds_a_member_once(self, store: SegmentStore) -> None:
        assert store.enter(SEG, "p1", AT, 3) is True
        assert store.enter(SEG, "p1", AT, 4) is False  # a replay changes nothing
        assert store.sizes() == {SEG: 1}
        assert store.members(SEG) == ([{"profile_id": "p1", "entered_at": AT, "version": 3}], None)

    def test_leaving_removes_a_member_once(self, store: SegmentStore) -> None:
        store.enter(SEG, "p1", AT, 1)
        assert store.leave(SEG, "p1") is True
        assert store.leave(SEG, "p1") is False
        assert store.leave(SEG, "never-a-member") is False
        assert store.sizes() == {SEG: 0}  # emptied since: shown as 0
        assert store.members(SEG) == ([], None)

    def test_an_erased_exit_is_counted_once_per_tombstone_version(self, store: SegmentStore) -> None:
        store.enter(SEG, "p1", AT, 1)
        store.enter(SEG, "p2", AT, 1)
        assert store.leave_erased(SEG, "p1", 7) is True
        assert store.leave_erased(SEG, "p1", 7) is False
        assert store.sizes() == {SEG: 1}
        assert [m["profile_id"] for m in store.members(SEG)[0]] == ["p2"]

    def test_a_segment_that_never_had_a_member_has_no_size(self, store: SegmentStore) -> None:
        store.enter(SEG, "p1", AT, 1)
        assert "vip" not in store.sizes()

    def test_members_page_through_every_member_once_in_id_order(self, store: SegmentStore) -> None:
        ids = [f"p{n}" for n in (4, 0, 3, 1, 2)]
        for pid in ids:
            store.enter(SEG, pid, AT, 1)
        store.enter("other", "p9", AT, 1)
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(5):
            page, cursor = store.members(SEG, limit=2, cursor=cursor)
            assert len(page) <= 2
            seen += [m["profile_id"] for m in page]
            if cursor is None:
                break
        assert seen == sorted(ids)

    @pytest.mark.parametrize("cursor", ["not-a-cursor", "eyJ4IjoxfQ"])
    def test_a_cursor_we_did_not_issue_is_refused(self, store: SegmentStore, cursor: str) -> None:
        with pytest.raises(ValueError):
            store.members(SEG, cursor=cursor)

    def test_the_customer_population_keeps_the_newest_row(self, store: SegmentStore) -> None:
        store.put_customer(
            row("b1", 2, orders=3, needs_group="coffee", rfm="534", percentile=0.75, first_order_ts=1.7e9)
        )
        store.put_customer(row("b1", 1, orders=1))  # a replayed older record
        store.put_customer(row("b2", 1))
        assert sorted(store.customers(), key=lambda r: r.profile_id) == [
            row("b1", 2, orders=3, needs_group="coffee", rfm="534", percentile=0.75, first_order_ts=1.7e9),
            row("b2", 1),
        ]
        store.put_customer(row("b1", 3, orders=4))
        assert {r.profile_id: r.orders for r in store.customers()} == {"b1": 4, "b2": 1}

    def test_removing_a_customer_forgets_them_and_tolerates_absence(self, store: SegmentStore) -> None:
        store.put_customer(row("b1", 1))
        store.remove_customer("b1")
        store.remove_customer("never-bought")
        assert list(store.customers()) == []


class TestInMemorySegmentStore(SegmentStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[SegmentStore]:
        yield InMemorySegmentStore()


@pytest.mark.usefixtures("moto_env")
class TestDynamoSegmentStore(SegmentStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[SegmentStore]:
        from chalicelib.bootstrap import get_segment_store

        yield get_segment_store()
