"""SimilarItemsStore contract, and the nightly job over archive days: one suite, run against the in-memory fakes and
(subclassed) the StateTable adapter with the S3 archive on moto."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from typing import Any

import pytest

from chalicelib.recommendations import SimilarItemsLearning
from chalicelib.recommendations.similarity import NEIGHBOURS, STOCK_KEY
from chalicelib.tracking.archive import encode, object_key
from tests.fakes.recommendations import Crash, InMemoryArchiveDays, InMemorySimilarItems
from tests.integration.conftest import moto_env  # noqa: F401 - the moto fixture, for the adapter's subclass

DAY1, DAY2 = "2026-12-01", "2026-12-02"
SINCE = date(2026, 11, 20)  # the first run learns from here (history before the job's first night)
AFTER = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)  # the night after DAY2
KEYS = ["sim#a", "sim#b", "sim#c", "sim#d", "pop#*", "pop#tea"]


def line(person: str, n: int, day: str, event: str, props: dict[str, Any], **body: Any) -> dict[str, Any]:
    """An archived line as `tracking.archive.archive_line` writes it (the stored event JSON in `body`)."""
    return {
        "key": f"src#{person}-{day}-{n}",
        "profile_id": person,
        "type": "track",
        "event": event,
        "ts": f"{day}T10:{n:02d}:00.000Z",
        "body": json.dumps({"event": event, "properties": props, "flags": [], "is_bot": False, **body}),
    }


def views(person: str, day: str, *pids: str) -> list[dict[str, Any]]:
    return [
        line(person, n, day, "Product Viewed", {"product_id": p, "name": p.upper(), "category": "tea"})
        for n, p in enumerate(pids)
    ]


def order(person: str, n: int, day: str, *pids: str) -> dict[str, Any]:
    products = [{"product_id": p, "category": "tea"} for p in pids]
    return line(person, n, day, "Order Completed", {"order_id": f"{person}{n}", "products": products})


class SimilarItemsContract:
    @pytest.fixture
    def store(self) -> Iterator[Any]:
        raise NotImplementedError

    @pytest.fixture
    def archive(self) -> Iterator[Any]:
        raise NotImplementedError

    def crashing(self, store: Any, after: int) -> AbstractContextManager[None]:
        """Within it, the store fails after `after` more list writes (a job dying half-way through a day)."""
        raise NotImplementedError

    @pytest.fixture
    def shop(self, archive: Any) -> Callable[[], None]:
        def fill() -> None:
            # GIVEN two days of tea shoppers, one object per stream batch, the first day in two batches
            day1 = [*views("p1", DAY1, "a", "b", "c"), order("p1", 9, DAY1, "a", "b"), *views("p2", DAY1, "a", "b")]
            archive.put(object_key(DAY1, "1", "2"), encode(day1[:3]))
            archive.put(object_key(DAY1, "3", "4"), encode(day1[2:]))  # a line archived twice counts once
            archive.put(object_key(DAY2, "5", "6"), encode([*views("p3", DAY2, "c", "d"), order("p3", 9, DAY2, "d")]))

        return fill

    def test_nothing_is_read_before_anything_is_learnt(self, store: Any) -> None:
        assert store.read(["sim#a", "pop#*"]) == {}
        assert store.learnt_through() is None

    def test_each_complete_day_is_learnt_into_the_lists_and_the_cursor_moves_past_it(
        self, store: Any, archive: Any, shop: Callable[[], None]
    ) -> None:
        shop()
        report = SimilarItemsLearning(store, archive).run(AFTER, since=SINCE)
        assert report.days == [DAY1, DAY2] and report.events == 9  # the empty days before are passed unread
        assert store.learnt_through() == DAY2
        lists = store.read(KEYS)
        # a: viewed by two people with b (1 + 1), bought with b (3) and after viewing c (2)
        assert lists["sim#a"]["n"] == {"b": 5.0, "c": 3.0}
        assert lists["sim#a"]["card"]["name"] == "A" and lists["sim#b"]["c"]["a"]["name"] == "A"
        assert lists["sim#d"]["n"] == {"c": 3.0} and lists["pop#tea"]["n"]["d"] == 4.0
        # the cosine's denominators: each neighbour's own total after both days (a: 2 views + 1 purchase)
        assert lists["sim#b"]["u"]["a"] == 5.0

    def test_the_first_run_learns_yesterday_unless_told_since_when_and_since_is_refused_afterwards(
        self, store: Any, archive: Any, shop: Callable[[], None]
    ) -> None:
        from chalicelib.recommendations import AlreadyLearnt

        shop()
        job = SimilarItemsLearning(store, archive)
        # the days before the first night were learnt per event by earlier releases: not learnt again by default
        assert job.run(AFTER).days == [DAY2] and store.learnt_through() == DAY2
        with pytest.raises(AlreadyLearnt):
            job.run(AFTER, since=SINCE)
        assert "sim#a" not in store.read(["sim#a"])

    def test_a_day_learnt_again_counts_nothing_twice(self, store: Any, archive: Any, shop: Callable[[], None]) -> None:
        shop()
        job = SimilarItemsLearning(store, archive)
        job.run(AFTER, since=SINCE)
        before = store.read(KEYS)
        # WHEN a Lambda retry or an operator learns the same days again (and the job runs again)
        assert job.learn_day(DAY1).lists_written == 0
        assert job.learn_day(DAY2).lists_written == 0
        assert job.run(AFTER).days == []
        assert store.read(KEYS) == before

    def test_a_job_that_dies_half_way_through_a_day_resumes_to_the_same_lists(
        self, store: Any, archive: Any, shop: Callable[[], None], other: tuple[Any, Any]
    ) -> None:
        shop()
        clean_store, clean_archive = other
        for key in archive.keys("events/"):
            clean_archive.put(key, b"".join(archive_bytes(archive, key)))
        SimilarItemsLearning(clean_store, clean_archive).run(AFTER, since=SINCE)
        expected = clean_store.read(KEYS)
        job = SimilarItemsLearning(store, archive)
        with self.crashing(store, 3), pytest.raises(Crash):
            job.run(AFTER, since=SINCE)
        assert store.learnt_through() is None or store.learnt_through() < DAY1
        assert 0 < len(store.read(KEYS)) < len(expected)
        # WHEN the next run starts again from the day it did not finish
        job.run(AFTER, since=SINCE)
        assert store.read(KEYS) == expected

    def test_a_day_not_compacted_yet_waits_and_later_days_wait_behind_it(
        self, store: Any, archive: Any, shop: Callable[[], None]
    ) -> None:
        shop()
        archive.written([(DAY2, "token")])  # written since its last compaction: maybe incomplete
        report = SimilarItemsLearning(store, archive).run(AFTER, since=SINCE)
        assert report.days[-1] == DAY1 and report.waiting_for == DAY2
        assert store.learnt_through() == DAY1 and "sim#d" not in store.read(["sim#d"])

    def test_a_run_out_of_time_learns_one_day_and_leaves_the_rest_for_the_next(
        self, store: Any, archive: Any, shop: Callable[[], None]
    ) -> None:
        shop()
        job = SimilarItemsLearning(store, archive)
        assert job.run(AFTER, deadline=0.0, since=SINCE).days == [
            DAY1
        ]  # past its deadline: still one day, then it stops
        assert store.learnt_through() == DAY1
        assert job.run(AFTER, deadline=0.0).days == [DAY2]
        assert job.run(AFTER).days == [] and store.learnt_through() == DAY2

    def test_bots_unverified_orders_and_unlinked_events_teach_nothing(self, store: Any, archive: Any) -> None:
        lines = [
            line("bot", 1, DAY1, "Product Viewed", {"product_id": "a"}, is_bot=True, flags=["bot"]),
            line("p", 2, DAY1, "Order Completed", {"products": [{"product_id": "b"}]}, flags=["unverified"]),
            line("unlinked#x", 3, DAY1, "Product Viewed", {"product_id": "c"}),
        ]
        archive.put(object_key(DAY1, "1", "1"), encode(lines))
        report = SimilarItemsLearning(store, archive).run(AFTER, since=SINCE)
        assert report.events == 0 and report.skipped == 3
        assert store.read(["sim#a", "sim#b", "sim#c", "pop#*"]) == {}

    def test_a_list_never_holds_more_than_its_bound(self, store: Any, archive: Any) -> None:
        lines = [item for n in range(NEIGHBOURS + 6) for item in views(f"p{n}", DAY1, "hub", f"x{n}")]
        archive.put(object_key(DAY1, "1", "1"), encode([*lines, *views("again", DAY1, "hub", "x0")]))
        SimilarItemsLearning(store, archive).run(AFTER, since=SINCE)
        counts = store.read(["sim#hub"])["sim#hub"]["n"]
        assert len(counts) == NEIGHBOURS
        assert sum(counts.values()) == NEIGHBOURS + 7  # Space-Saving: evicted counts are inherited, none lost

    def test_the_catalogs_out_of_stock_list_follows_each_change_and_a_replay_changes_nothing(self, store: Any) -> None:
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


def archive_bytes(archive: Any, key: str) -> list[bytes]:
    """An archive object's bytes, from either archive (the fake keeps them, S3 is read)."""
    if isinstance(archive, InMemoryArchiveDays):
        return [archive.objects[key]]
    return [archive.get(key)]


class TestInMemorySimilarItems(SimilarItemsContract):
    @pytest.fixture
    def store(self) -> Iterator[Any]:
        yield InMemorySimilarItems()

    @pytest.fixture
    def archive(self) -> Iterator[Any]:
        yield InMemoryArchiveDays()

    @pytest.fixture
    def other(self) -> tuple[Any, Any]:
        return InMemorySimilarItems(), InMemoryArchiveDays()

    @contextmanager
    def crashing(self, store: Any, after: int) -> Iterator[None]:
        store.crash_after = store.writes + after
        try:
            yield
        finally:
            store.crash_after = None


@pytest.mark.usefixtures("moto_env")
class TestDynamoSimilarItems(SimilarItemsContract):
    @pytest.fixture
    def store(self) -> Iterator[Any]:
        from chalicelib.recommendations.adapters.dynamodb_similar_items import DynamoSimilarItems
        from chalicelib.shared.settings import get_settings

        yield DynamoSimilarItems(get_settings().state_table)

    @pytest.fixture
    def archive(self) -> Iterator[Any]:
        from chalicelib.shared.settings import get_settings
        from chalicelib.tracking.adapters.s3_archive import S3EventArchive

        s = get_settings()
        yield S3EventArchive(s.archive_bucket, s.state_table, s.events_table)

    @pytest.fixture
    def other(self) -> tuple[Any, Any]:
        return InMemorySimilarItems(), InMemoryArchiveDays()  # the same job on the fakes: the expected lists

    @contextmanager
    def crashing(self, store: Any, after: int) -> Iterator[None]:
        original = store._put
        calls: list[int] = []

        def dying(*args: Any, **kwargs: Any) -> bool:
            if len(calls) >= after:
                raise Crash("the Lambda timed out")
            calls.append(1)
            return bool(original(*args, **kwargs))

        store._put = dying
        try:
            yield
        finally:
            store._put = original

    def test_a_list_another_run_wrote_meanwhile_is_read_again_not_overwritten(
        self, store: Any, archive: Any, shop: Callable[[], None]
    ) -> None:
        shop()
        job = SimilarItemsLearning(store, archive)
        job.learn_day(DAY1)
        original = store._put
        raced: list[int] = []

        def racing(key: str, state: dict[str, Any], version: int, day: str) -> bool:
            if not raced:  # an overlapping run lands DAY2 on the first list between our read and our put
                raced.append(1)
                SimilarItemsLearning(type(store)(store.table), archive).learn_day(DAY2)
            return bool(original(key, state, version, day))

        store._put = racing
        try:
            job.learn_day(DAY2)
        finally:
            store._put = original
        assert store.read(["sim#d"])["sim#d"]["n"] == {"c": 3.0}  # DAY2 applied once, by the other run
        assert store.read(["sim#c"])["sim#c"]["n"] == {"a": 3.0, "b": 3.0, "d": 3.0}
