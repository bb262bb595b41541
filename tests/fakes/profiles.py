"""In-memory fakes of the profiles ports (`chalicelib/profiles/ports.py`)."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterable
from typing import Any

import msgspec

from chalicelib.profiles import codec
from chalicelib.profiles.model import Profile
from chalicelib.profiles.ports import BackfillCursor, BackfillJob, BackfillTask, StoredProfile, SweepState
from chalicelib.scoring.rfm import GroupCutPoints, RfmCutPoints


class FakeProfileStore:
    """Profiles kept as `Profile` copies: a read hands out a new object, as decoding a stored body does."""

    def __init__(self) -> None:
        self.profiles: dict[str, Profile] = {}
        self.erased: dict[str, str] = {}  # profile id -> erased_at (tombstones)
        self.puts = 0  # write requests, for tests that count them

    def get(self, profile_id: str) -> StoredProfile | None:
        profile = self.profiles.get(profile_id)
        if profile is None:
            return None
        body = codec.to_msgpack(profile)  # what the adapter stores (before compression), decoded again on each read

        def load() -> Profile:
            copy = msgspec.msgpack.decode(body, type=Profile)
            copy.version = profile.version
            return copy

        def read() -> dict[str, Any]:
            return msgspec.json.decode(codec.to_json(load()))

        return StoredProfile(
            profile_id,
            profile.version,
            load=load,
            read=read,
            merged_into=profile.merged_into,
            erased_at=self.erased.get(profile_id),
        )

    def get_many(self, profile_ids: Iterable[str]) -> dict[str, StoredProfile]:
        found = {pid: self.get(pid) for pid in dict.fromkeys(profile_ids)}
        return {pid: stored for pid, stored in found.items() if stored is not None}

    def put(self, profile: Profile, expected_version: int | None) -> bool:
        self.puts += 1
        current = self.profiles.get(profile.profile_id)
        if (current.version if current is not None else None) != expected_version:
            return False
        self.profiles[profile.profile_id] = codec.copy(profile)
        self.erased.pop(profile.profile_id, None)
        return True

    # -- test helpers -------------------------------------------------------------------------------------------------
    def erase(self, profile_id: str, erased_at: str = "2026-01-01T00:00:00+00:00") -> None:
        """An erasure tombstone, as the privacy wing writes it: an id, the next version and the date."""
        current = self.profiles.get(profile_id)
        self.profiles[profile_id] = Profile(profile_id=profile_id, version=(current.version if current else 0) + 1)
        self.erased[profile_id] = erased_at

    def profile(self, profile_id: str) -> Profile:
        """The stored profile (a copy); KeyError when there is none."""
        return codec.copy(self.profiles[profile_id])


class FakeCutPointStore:
    def __init__(self) -> None:
        self.rfm: RfmCutPoints | None = None
        self.group: GroupCutPoints | None = None

    def current(self) -> tuple[RfmCutPoints | None, GroupCutPoints | None]:
        return self.rfm, self.group

    def save(self, rfm_cut_points: RfmCutPoints, group_cut_points: GroupCutPoints) -> None:
        self.rfm, self.group = rfm_cut_points, group_cut_points


class FakeSweepStore:
    def __init__(self) -> None:
        self.due: dict[str, list[str]] = {}  # day -> profile ids
        self.state = SweepState()

    def due_profiles(self, day: str, limit: int, start_after: str | None) -> tuple[list[str], str | None]:
        ids = sorted(p for p in self.due.get(day, []) if start_after is None or p > start_after)
        page = ids[:limit]
        return page, page[-1] if len(ids) > limit else None

    def load(self) -> SweepState:
        return SweepState(self.state.swept_through, self.state.day, self.state.cursor)

    def save(self, state: SweepState) -> None:
        self.state = SweepState(state.swept_through, state.day, state.cursor)


class FakeProfileScan:
    """DynamoDB's parallel Scan over a `FakeProfileStore`: a profile belongs to one segment (by a hash of its key),
    and a segment is read in key order, `limit` items a page."""

    def __init__(self, store: FakeProfileStore) -> None:
        self.store = store
        self.pages = 0

    def scan_page(
        self, segment: int, total_segments: int, start_after: str | None, limit: int
    ) -> tuple[list[StoredProfile], str | None]:
        self.pages += 1
        ids = sorted(
            pid
            for pid in self.store.profiles
            if zlib.crc32(pid.encode()) % total_segments == segment and (start_after is None or pid > start_after)
        )
        page = [stored for pid in ids[:limit] if (stored := self.store.get(pid)) is not None]
        return page, ids[limit - 1] if len(ids) > limit else None


class FakeBackfillJobStore:
    def __init__(self) -> None:
        self.jobs: dict[str, BackfillJob] = {}
        self.cursors: dict[tuple[str, int], BackfillCursor] = {}

    def create(self, job: BackfillJob) -> None:
        for segment in range(job.total_segments):
            self.cursors[(job.job_id, segment)] = BackfillCursor()
        self.jobs[job.job_id] = job

    def get(self, job_id: str) -> BackfillJob | None:
        return self.jobs.get(job_id)

    def recent(self, limit: int) -> list[BackfillJob]:
        return [self.jobs[k] for k in sorted(self.jobs, reverse=True)[:limit]]

    def cursor(self, job_id: str, segment: int) -> BackfillCursor | None:
        return self.cursors.get((job_id, segment))

    def commit(self, task: BackfillTask, next_start: str | None, evaluated: int, written: int, skipped: int) -> bool:
        key = (task.job_id, task.segment)
        cursor = self.cursors[key]
        if cursor.step != task.step:
            return False
        done = next_start is None
        self.cursors[key] = dataclasses.replace(cursor, step=task.step + 1, start_after=next_start, done=done)
        job = self.jobs[task.job_id]
        self.jobs[task.job_id] = dataclasses.replace(
            job,
            segments_done=job.segments_done + int(done),
            profiles_evaluated=job.profiles_evaluated + evaluated,
            profiles_written=job.profiles_written + written,
            profiles_skipped=job.profiles_skipped + skipped,
        )
        return True

    def mark_sent(self, job_id: str, segment: int, step: int) -> None:
        cursor = self.cursors[(job_id, segment)]
        self.cursors[(job_id, segment)] = dataclasses.replace(cursor, sent=max(cursor.sent, step))

    def finish(self, job_id: str, at: str) -> bool:
        job = self.jobs[job_id]
        if not job.finished or job.finished_at is not None:
            return False
        self.jobs[job_id] = dataclasses.replace(job, finished_at=at)
        return True


class FakeBackfillQueue:
    def __init__(self) -> None:
        self.tasks: list[BackfillTask] = []
        self.sent = 0

    def send(self, tasks: list[BackfillTask]) -> None:
        self.sent += len(tasks)
        self.tasks.extend(tasks)
