"""SegmentStore contract: one suite, run against the in-memory fake and (subclassed) the DynamoDB adapter on moto.

Sizes follow the items through the members table's stream: `settle` plays that stream (the DynamoDB adapter's through
the real size counter; the fake's sizes are the settled state already)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


class MembersStream:
    """The members table's stream on moto, read from its horizon and counted by the real size counter, as Lambda
    would deliver it (each record once: `count` only delivers what it has not delivered before)."""

    def __init__(self) -> None:
        self.delivered: set[str] = set()

    def records(self) -> list[dict[str, Any]]:
        from chalicelib.shared.aws import client
        from chalicelib.shared.settings import get_settings
        from local.pump import lambda_dynamodb_record

        table = get_settings().segment_members_table
        arn = client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
        streams = client("dynamodbstreams")
        out: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            out += [lambda_dynamodb_record(r, arn, "us-east-1") for r in page["Records"]]
        return out

    def count(self) -> None:
        from chalicelib.bootstrap import get_segment_size_service

        batch = [r for r in self.records() if r["dynamodb"]["SequenceNumber"] not in self.delivered]
        assert get_segment_size_service().count(batch) == []
        self.delivered |= {r["dynamodb"]["SequenceNumber"] for r in batch}


class SegmentStoreContract:
    """What the membership use case relies on, whatever the backend."""

    @pytest.fixture
    def store(self) -> Iterator[SegmentStore]:
        raise NotImplementedError

    @pytest.fixture
    def settle(self) -> Callable[[], None]:
        return lambda: None

    def test_entering_adds_a_member_once(self, store: SegmentStore, settle: Callable[[], None]) -> None:
        assert store.enter(SEG, "p1", AT, 3) is True
        assert store.enter(SEG, "p1", AT, 4) is False  # a replay changes nothing
        settle()
        assert store.sizes() == {SEG: 1}
        assert store.members(SEG) == ([{"profile_id": "p1", "entered_at": AT, "version": 3}], None)

    def test_leaving_removes_a_member_once(self, store: SegmentStore, settle: Callable[[], None]) -> None:
        store.enter(SEG, "p1", AT, 1)
        assert store.leave(SEG, "p1") is True
        assert store.leave(SEG, "p1") is False
        assert store.leave(SEG, "never-a-member") is False
        settle()
        assert store.sizes() == {SEG: 0}  # emptied since: shown as 0
        assert store.members(SEG) == ([], None)

    def test_entering_again_after_leaving_counts_again(self, store: SegmentStore, settle: Callable[[], None]) -> None:
        store.enter(SEG, "p1", AT, 1)
        store.enter(SEG, "p2", AT, 1)
        store.leave(SEG, "p1")
        assert store.enter(SEG, "p1", AT, 3) is True
        settle()
        assert store.sizes() == {SEG: 2}
        assert [(m["profile_id"], m["version"]) for m in store.members(SEG)[0]] == [("p1", 3), ("p2", 1)]

    def test_the_customer_population_is_no_segment(self, store: SegmentStore, settle: Callable[[], None]) -> None:
        store.put_customer(row("b1", 1))
        store.enter(SEG, "p1", AT, 1)
        store.remove_customer("b1")
        settle()
        assert store.sizes() == {SEG: 1}

    def test_a_segment_that_never_had_a_member_has_no_size(
        self, store: SegmentStore, settle: Callable[[], None]
    ) -> None:
        store.enter(SEG, "p1", AT, 1)
        settle()
        assert "vip" not in store.sizes()

    def test_every_segment_ever_entered_is_listed_as_a_member_partition_before_any_size_is_counted(
        self, store: SegmentStore
    ) -> None:
        # GIVEN members entered in two segments, one of them emptied since; the members stream not counted yet
        store.enter(SEG, "p1", AT, 1)
        store.enter("vip", "p2", AT, 1)
        store.leave("vip", "p2")
        # THEN both are listed (an erasure looks in each), once, and a segment nobody entered is not
        partitions = store.member_partitions()
        assert {SEG, "vip"} <= set(partitions) and "never_entered" not in partitions
        assert len(partitions) == len(set(partitions))
        # AND the registry is no segment: neither sized nor a member page
        assert store.members(SEG)[0] == [{"profile_id": "p1", "entered_at": AT, "version": 1}]

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

    @pytest.fixture
    def settle(self) -> Callable[[], None]:
        return MembersStream().count


class RegistryFailing:
    """The DynamoDB client, but a write of a registry row raises (a throttled or failed request)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.exceptions = real.exceptions
        self.registry_puts = 0

    def put_item(self, **kwargs: Any) -> Any:
        if kwargs["Item"]["segment_id"]["S"].startswith("$segments"):
            self.registry_puts += 1
            if self.registry_puts == 1:
                from chalicelib.shared.faults import StorageUnavailable

                raise StorageUnavailable("registry write failed")
        return self.real.put_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.mark.usefixtures("moto_env")
class TestDynamoSegmentRegistry:
    """The DynamoDB adapter's own side of `member_partitions`: where it reads and writes, and the upgrade path."""

    @pytest.fixture
    def members_table(self) -> str:
        from chalicelib.shared.settings import get_settings

        return get_settings().segment_members_table

    def test_no_member_is_written_into_a_segment_whose_registry_row_failed(
        self, members_table: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from chalicelib.segments.adapters import dynamodb_segments
        from chalicelib.shared.aws import client
        from chalicelib.shared.faults import StorageUnavailable
        from chalicelib.shared.settings import get_settings

        failing = RegistryFailing(client("dynamodb"))
        monkeypatch.setattr(dynamodb_segments, "client", lambda name: failing)
        store = dynamodb_segments.DynamoSegmentStore(members_table, get_settings().state_table)
        # WHEN the registry row cannot be written, the enter fails (the record is retried) and writes no member
        with pytest.raises(StorageUnavailable):
            store.enter(SEG, "p1", AT, 1)
        assert store.members(SEG) == ([], None)
        # THEN the retry registers the segment, then writes the member; later members need no registry write
        assert store.enter(SEG, "p1", AT, 1) is True
        assert store.enter(SEG, "p2", AT, 1) is True
        assert failing.registry_puts == 2
        assert SEG in store.member_partitions()

    def test_each_container_registers_a_segment_once_and_the_first_entry_time_is_kept(self, members_table: str) -> None:
        from chalicelib.segments.adapters.dynamodb_segments import REGISTRY_PARTITION, DynamoSegmentStore
        from chalicelib.shared.aws import client
        from chalicelib.shared.settings import get_settings

        state = get_settings().state_table
        DynamoSegmentStore(members_table, state).enter(SEG, "p1", AT, 1)
        DynamoSegmentStore(members_table, state).enter(SEG, "p2", "2026-03-03T00:00:00.000Z", 1)  # another container
        rows = client("dynamodb").query(
            TableName=members_table,
            KeyConditionExpression="segment_id = :s",
            ExpressionAttributeValues={":s": {"S": REGISTRY_PARTITION}},
        )["Items"]
        assert [(r["profile_id"]["S"], r["first_entered_at"]["S"]) for r in rows] == [(SEG, AT)]

    def test_a_segment_sized_before_the_registry_existed_is_listed(self, members_table: str) -> None:
        # GIVEN an upgraded stack: members written before the registry, counted into their size row, no registry row
        from chalicelib.segments.adapters.dynamodb_segments import SIZE_PK, DynamoSegmentStore
        from chalicelib.shared.aws import client
        from chalicelib.shared.settings import get_settings

        state = get_settings().state_table
        client("dynamodb").put_item(
            TableName=state, Item={"pk": {"S": SIZE_PK}, "sk": {"S": "old_segment"}, "size": {"N": "3"}}
        )
        # THEN it is listed beside the registered ones
        store = DynamoSegmentStore(members_table, state)
        store.enter(SEG, "p1", AT, 1)
        assert {"old_segment", SEG} <= set(store.member_partitions())

    def test_every_population_row_is_under_a_listed_partition(self, members_table: str) -> None:
        from chalicelib.bootstrap import get_segment_store
        from chalicelib.shared.dynamodb import batch_get

        store = get_segment_store()
        buyers = [f"b{n}" for n in range(20)]  # enough ids to land on every shard
        for buyer in buyers:
            store.put_customer(row(buyer, 1))
        keys = [
            {"segment_id": {"S": partition}, "profile_id": {"S": buyer}}
            for partition in store.member_partitions()
            for buyer in buyers
        ]
        assert sorted(i["profile_id"]["S"] for i in batch_get(members_table, keys)) == sorted(buyers)
