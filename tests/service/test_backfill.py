"""BackfillService on fakes: each profile visited once across scan segments; redelivery changes and counts nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.profiles.backfill import BackfillNotReady, BackfillService
from chalicelib.profiles.config import ProfileConfig, load_profile_config
from chalicelib.profiles.fold_batches import FoldService
from chalicelib.profiles.model import ComputedTraits, Profile
from chalicelib.profiles.ports import BackfillTask
from chalicelib.profiles.segmentation import SegmentDef
from chalicelib.shared.clock import FakeClock
from tests.fakes.profiles import (
    FakeBackfillJobStore,
    FakeBackfillQueue,
    FakeCutPointStore,
    FakeProfileScan,
    FakeProfileStore,
)
from tests.fakes.tracking import FakeEventStore, FakeFailedEventStore, FakeIdentityStore

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BIG = SegmentDef.model_validate(
    {"name": "big_spenders", "rule": {"field": "computed.revenue", "op": "gte", "value": 100}}
)


def config_with(*extra: SegmentDef) -> ProfileConfig:
    base = load_profile_config()
    segments = base.segments.model_copy(update={"segments": [*base.segments.segments, *extra]})
    return base.model_copy(update={"segments": segments})


class World:
    def __init__(self, profiles: int = 57) -> None:
        self.clock = FakeClock(NOW)
        self.store = FakeProfileStore()
        self.scan = FakeProfileScan(self.store)
        self.jobs = FakeBackfillJobStore()
        self.queue = FakeBackfillQueue()
        self.refolds: list[str] = []
        for n in range(profiles):
            profile = Profile(profile_id=f"p{n:03d}", computed=ComputedTraits(orders=n % 3, revenue=float(10 * n)))
            self.store.put(profile, None)
        self.fold = self.fold_service(config_with())
        for pid in list(self.store.profiles):  # settle every profile under today's config
            self.fold.refold(pid)
        self.store.puts = 0
        self.refolds.clear()

    def fold_service(self, config: ProfileConfig) -> FoldService:
        fold = FoldService(
            FakeEventStore(),
            FakeIdentityStore(),
            self.store,
            FakeFailedEventStore(),
            self.clock,
            config=config,
            cut_points=FakeCutPointStore(),
        )
        original = fold.refold

        def counting_refold(profile_id, prefetched=None, *, backfill_of=()):  # type: ignore[no-untyped-def]
            self.refolds.append(profile_id)
            return original(profile_id, prefetched, backfill_of=backfill_of)

        fold.refold = counting_refold  # type: ignore[method-assign]
        return fold

    def service(self, parallelism: int = 4, page_size: int = 5, max_pages: int = 2) -> BackfillService:
        self.fold = self.fold_service(config_with(BIG))
        return BackfillService(
            self.scan,
            self.jobs,
            self.queue,
            self.fold,
            self.clock,
            parallelism=parallelism,
            page_size=page_size,
            max_pages_per_step=max_pages,
        )

    def drain(self, service: BackfillService) -> list[BackfillTask]:
        delivered = []
        while self.queue.tasks:
            task = self.queue.tasks.pop(0)
            delivered.append(task)
            service.run(task)
        return delivered


def test_every_live_profile_is_evaluated_exactly_once_across_scan_segments() -> None:
    # GIVEN 57 profiles, 4 scan segments, pages of 5 and 2 pages a step: several continuations per segment
    world = World()
    service = world.service()
    # WHEN a backfill of the new segment runs to its end
    job_id = service.start(["big_spenders"], "segment created")
    delivered = world.drain(service)
    # THEN every profile was re-folded once, the chains continued, and the counts are exact
    assert sorted(world.refolds) == sorted(world.store.profiles)
    assert len(delivered) > 4 and {t.segment for t in delivered} == {0, 1, 2, 3}
    members = {pid for pid, p in world.store.profiles.items() if "big_spenders" in p.segments}
    assert members == {f"p{n:03d}" for n in range(10, 57)}
    job = world.jobs.get(job_id)
    assert job is not None and job.finished and job.finished_at == "2026-03-02T12:00:00.000Z"
    assert (job.segments_done, job.total_segments) == (4, 4)
    assert (job.profiles_evaluated, job.profiles_written, job.profiles_skipped) == (57, 47, 0)
    assert world.store.puts == 47  # only profiles whose membership changed were written


def test_entries_found_by_a_backfill_are_recorded_by_backfill() -> None:
    world = World(profiles=12)
    service = world.service()
    service.start(["big_spenders"], "segment created")
    world.drain(service)
    entered = [t for t in world.store.profile("p011").new_transitions() if t.kind == "segment_entered"]
    assert [(t.name, t.by) for t in entered] == [("big_spenders", "backfill")]


def test_a_redelivered_step_changes_nothing_and_counts_nothing() -> None:
    world = World()
    service = world.service()
    job_id = service.start(["big_spenders"], "segment created")
    delivered = world.drain(service)
    before = world.jobs.get(job_id)
    puts, sent = world.store.puts, world.queue.sent
    # WHEN every message is delivered again (SQS at least once)
    for task in delivered:
        assert service.run(task).outcome == "duplicate"
    # THEN no profile is written, no progress counted and no second chain started
    assert world.store.puts == puts and world.queue.sent == sent and world.jobs.get(job_id) == before


def test_a_step_run_twice_before_its_commit_writes_and_counts_once() -> None:
    # GIVEN a step whose first delivery did all its work but lost the race to commit (a concurrent duplicate)
    world = World()
    service = world.service(parallelism=1, page_size=100, max_pages=1)
    job_id = service.start(["big_spenders"], "segment created")
    [task] = world.queue.tasks
    world.queue.tasks.clear()
    first = service.run(task)
    assert first.outcome == "finished" and first.written == 47
    # WHEN the same step runs again after its cursor moved on
    again = service.run(task)
    # THEN it is recognised as done: no writes, the counters stay exact
    assert again.outcome == "duplicate"
    job = world.jobs.get(job_id)
    assert job is not None and (job.profiles_evaluated, job.profiles_written) == (57, 47)


def test_a_refold_of_already_evaluated_profiles_writes_nothing() -> None:
    # The same work done twice (a step re-run from its cursor after a crash before the commit) writes nothing new.
    world = World()
    service = world.service(parallelism=1, page_size=100, max_pages=1)
    service.start(["big_spenders"], "first")
    world.drain(service)
    puts = world.store.puts
    job_id = service.start(["big_spenders"], "again")
    world.drain(service)
    job = world.jobs.get(job_id)
    assert world.store.puts == puts
    assert job is not None and (job.profiles_evaluated, job.profiles_written) == (57, 0)


def test_a_continuation_lost_after_the_commit_is_sent_again_by_the_redelivered_step() -> None:
    # GIVEN a step that committed, but crashed before its continuation reached the queue
    world = World()
    service = world.service(parallelism=1, page_size=5, max_pages=1)
    job_id = service.start(["big_spenders"], "segment created")
    [first] = world.queue.tasks
    world.queue.tasks.clear()
    report = service.run(first)
    assert report.next_task is not None
    world.queue.tasks.clear()  # the continuation never arrived
    world.jobs.cursors[(job_id, 0)] = world.jobs.cursors[(job_id, 0)].__class__(
        step=1, start_after=report.next_task.start_after, sent=0
    )
    # WHEN the first step is delivered again
    again = service.run(first)
    # THEN it sends the continuation once (nothing re-done), and the chain finishes with exact counts
    assert again.outcome == "resent" and world.queue.tasks == [report.next_task]
    assert service.run(first).outcome == "duplicate" and len(world.queue.tasks) == 1
    world.drain(service)
    job = world.jobs.get(job_id)
    assert job is not None and job.finished and job.profiles_evaluated == 57


def test_merged_away_and_erased_profiles_are_skipped() -> None:
    world = World(profiles=20)
    merged = world.store.profile("p015")
    merged.merged_into = "p016"
    merged.version += 1
    world.store.profiles["p015"] = merged
    world.store.erase("p017")
    service = world.service()
    job_id = service.start(["big_spenders"], "segment created")
    world.drain(service)
    job = world.jobs.get(job_id)
    assert job is not None and (job.profiles_evaluated, job.profiles_skipped) == (18, 2)
    assert "p015" not in world.refolds and "p017" not in world.refolds
    assert world.store.profile("p015").segments == [] and "big_spenders" not in world.store.profile("p017").segments


def test_a_step_ahead_of_its_cursor_waits_for_the_queue_to_deliver_it_again() -> None:
    world = World(profiles=5)
    service = world.service(parallelism=1)
    job_id = service.start(["big_spenders"], "segment created")
    with pytest.raises(BackfillNotReady):
        service.run(BackfillTask(job_id, 0, 1, step=3, start_after="p002"))


def test_a_step_of_an_unknown_job_is_dropped() -> None:
    world = World(profiles=5)
    service = world.service(parallelism=1)
    assert service.run(BackfillTask("bf-20260302T120000Z-abcdef", 0, 1)).outcome == "unknown_job"
    assert world.refolds == []


def test_start_needs_a_segment_and_lists_recent_jobs_newest_first() -> None:
    world = World(profiles=1)
    service = world.service(parallelism=2)
    with pytest.raises(ValueError):
        service.start([], "nothing")
    first = service.start(["big_spenders"], "one")
    world.clock.advance(__import__("datetime").timedelta(seconds=1))
    second = service.start(["big_spenders", "big_spenders"], "two")
    assert [j.job_id for j in service.recent(10)] == [second, first]
    job = service.status(second)
    assert job is not None and job.segment_ids == ("big_spenders",) and job.total_segments == 2
