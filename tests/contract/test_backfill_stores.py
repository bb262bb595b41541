"""ProfileScan and BackfillJobStore contracts: the fakes the service tests use behave as the DynamoDB adapters do."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.profiles.model import Profile
from chalicelib.profiles.ports import BackfillCursor, BackfillJob, BackfillJobStore, BackfillTask, ProfileScan
from tests.fakes.profiles import FakeBackfillJobStore, FakeProfileScan, FakeProfileStore

JOB = BackfillJob("bf-20260302T100000Z-aaaaaa", ("big", "vip"), "segment created", 2, "2026-03-02T10:00:00.000Z")


class ProfileScanContract:
    @pytest.fixture
    def world(self) -> tuple[Any, ProfileScan]:
        raise NotImplementedError

    def test_scan_segments_cover_every_profile_once_in_bounded_pages(self, world: tuple[Any, ProfileScan]) -> None:
        store, scan = world
        for n in range(23):
            store.put(Profile(profile_id=f"p{n:02d}"), None)
        seen: list[str] = []
        for segment in range(3):
            after: str | None = None
            while True:
                page, after = scan.scan_page(segment, 3, after, 4)
                assert len(page) <= 4
                seen += [p.profile_id for p in page]
                if after is None:
                    break
        assert sorted(seen) == [f"p{n:02d}" for n in range(23)]

    def test_scanned_profiles_carry_their_version_and_tombstones(self, world: tuple[Any, ProfileScan]) -> None:
        store, scan = world
        store.put(Profile(profile_id="p1", version=3), None)
        store.put(Profile(profile_id="p2", merged_into="p1", version=2), None)
        [(page, _)] = [scan.scan_page(0, 1, None, 10)]
        by_id = {p.profile_id: p for p in page}
        assert by_id["p1"].version == 3 and by_id["p1"].live and by_id["p1"].profile().profile_id == "p1"
        assert not by_id["p2"].live


class TestFakeProfileScan(ProfileScanContract):
    @pytest.fixture
    def world(self) -> tuple[Any, ProfileScan]:
        store = FakeProfileStore()
        return store, FakeProfileScan(store)


class TestDynamoProfileScan(ProfileScanContract):
    @pytest.fixture
    def world(self, dynamo: Any) -> tuple[Any, ProfileScan]:
        from chalicelib.profiles.adapters.dynamodb_backfill import DynamoProfileScan
        from chalicelib.profiles.adapters.dynamodb_profiles import DynamoProfileStore

        return DynamoProfileStore(dynamo.profiles_table), DynamoProfileScan(dynamo.profiles_table)


class BackfillJobStoreContract:
    @pytest.fixture
    def store(self) -> BackfillJobStore:
        raise NotImplementedError

    def test_a_created_job_comes_back_with_a_cursor_per_scan_segment(self, store: BackfillJobStore) -> None:
        store.create(JOB)
        assert store.get(JOB.job_id) == JOB
        assert store.cursor(JOB.job_id, 0) == store.cursor(JOB.job_id, 1) == BackfillCursor()
        assert store.cursor(JOB.job_id, 2) is None and store.get("bf-other") is None

    def test_a_step_commits_once_and_adds_its_counts(self, store: BackfillJobStore) -> None:
        store.create(JOB)
        task = BackfillTask(JOB.job_id, 1, 2)
        assert store.commit(task, "p9", 10, 4, 1)
        assert not store.commit(task, "p9", 10, 4, 1)  # the same step again: nothing changes
        assert store.cursor(JOB.job_id, 1) == BackfillCursor(step=1, start_after="p9", sent=0, done=False)
        job = store.get(JOB.job_id)
        assert job is not None
        assert (job.profiles_evaluated, job.profiles_written, job.profiles_skipped, job.segments_done) == (10, 4, 1, 0)

    def test_the_last_step_of_every_segment_finishes_the_job_once(self, store: BackfillJobStore) -> None:
        store.create(JOB)
        assert store.commit(BackfillTask(JOB.job_id, 0, 2), None, 3, 0, 0)
        assert store.cursor(JOB.job_id, 0) == BackfillCursor(step=1, start_after=None, sent=0, done=True)
        assert not store.finish(JOB.job_id, "2026-03-02T10:05:00.000Z")  # one segment is still running
        assert store.commit(BackfillTask(JOB.job_id, 1, 2), None, 2, 1, 0)
        assert store.finish(JOB.job_id, "2026-03-02T10:05:00.000Z")
        assert not store.finish(JOB.job_id, "2026-03-02T10:06:00.000Z")
        job = store.get(JOB.job_id)
        assert job is not None and job.finished and job.finished_at == "2026-03-02T10:05:00.000Z"
        assert (job.segments_done, job.profiles_evaluated) == (2, 5)

    def test_sent_only_rises(self, store: BackfillJobStore) -> None:
        store.create(JOB)
        store.mark_sent(JOB.job_id, 0, 2)
        store.mark_sent(JOB.job_id, 0, 1)
        cursor = store.cursor(JOB.job_id, 0)
        assert cursor is not None and cursor.sent == 2

    def test_recent_jobs_are_newest_first(self, store: BackfillJobStore) -> None:
        later = BackfillJob("bf-20260302T110000Z-bbbbbb", ("a",), "", 1, "2026-03-02T11:00:00.000Z")
        store.create(JOB)
        store.create(later)
        assert [j.job_id for j in store.recent(10)] == [later.job_id, JOB.job_id]
        assert [j.job_id for j in store.recent(1)] == [later.job_id]


class TestFakeBackfillJobStore(BackfillJobStoreContract):
    @pytest.fixture
    def store(self) -> BackfillJobStore:
        return FakeBackfillJobStore()


class TestDynamoBackfillJobStore(BackfillJobStoreContract):
    @pytest.fixture
    def store(self, dynamo: Any) -> BackfillJobStore:
        from chalicelib.profiles.adapters.dynamodb_backfill import DynamoBackfillJobStore

        return DynamoBackfillJobStore(dynamo.state_table)
