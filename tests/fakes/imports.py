"""In-memory fakes of the imports wing's ports (the contract suite holds them to the DynamoDB adapter's behaviour)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

from chalicelib.imports.ports import ImportJob, ImportTask, ObjectInfo, RejectedRow, StepMarker
from chalicelib.imports.ranges import RangeCounts


class FakeImportJobStore:
    def __init__(self) -> None:
        self.jobs: dict[str, ImportJob] = {}
        self.count_items: dict[str, dict[int, RangeCounts]] = {}
        self.flags: set[tuple[str, str]] = set()
        self.rows: dict[str, dict[tuple[int, str], RejectedRow]] = {}
        self.markers: dict[tuple[str, int, int], dict[str, Any]] = {}

    def create(self, job: ImportJob) -> bool:
        if job.import_id in self.jobs:
            return False
        self.jobs[job.import_id] = dataclasses.replace(job, notices=dict(job.notices))
        return True

    def get(self, import_id: str) -> ImportJob | None:
        job = self.jobs.get(import_id)
        return dataclasses.replace(job, notices=dict(job.notices)) if job else None

    def recent(self, limit: int = 20) -> list[ImportJob]:
        return sorted(self.jobs.values(), key=lambda j: (j.created_at, j.import_id), reverse=True)[:limit]

    def save_counts(self, import_id: str, chunk: int, counts: RangeCounts) -> bool:
        chunks = self.count_items.setdefault(import_id, {})
        if chunk in chunks:
            return False
        chunks[chunk] = counts
        self.jobs[import_id].counted += 1
        return True

    def counts(self, import_id: str) -> dict[int, RangeCounts]:
        return dict(self.count_items.get(import_id, {}))

    def set_flag(self, import_id: str, name: str) -> bool:
        if import_id not in self.jobs or (import_id, name) in self.flags:
            return False
        self.flags.add((import_id, name))
        return True

    def has_flag(self, import_id: str, name: str) -> bool:
        return (import_id, name) in self.flags

    def reject(self, import_id: str, rows: Iterable[RejectedRow]) -> None:
        for row in rows:
            self.rows.setdefault(import_id, {})[(row.line, row.part)] = dataclasses.replace(row, raw=row.raw[:1000])

    def rejected(self, import_id: str, limit: int = 100, after_line: int = 0) -> list[RejectedRow]:
        rows = sorted(self.rows.get(import_id, {}).items())
        return [row for (line, _), row in rows if line > after_line][:limit]

    def marker(self, import_id: str, chunk: int, step: int) -> StepMarker | None:
        item = self.markers.get((import_id, chunk, step))
        return StepMarker(item["final"], item["next_skip"], item["sent"]) if item else None

    def commit(
        self,
        task: ImportTask,
        *,
        accepted: int,
        rejected: int,
        messages: int,
        notices: dict[str, int],
        final: bool,
        next_skip: int | None,
    ) -> bool:
        key = (task.import_id, task.chunk, task.step)
        if key in self.markers:
            return False
        self.markers[key] = {"final": final, "next_skip": next_skip, "sent": False}
        job = self.jobs[task.import_id]
        job.rows_accepted += accepted
        job.rows_rejected += rejected
        job.messages += messages
        job.chunks_done += int(final)
        for name, count in notices.items():
            job.notices[name] = job.notices.get(name, 0) + count
        return True

    def mark_sent(self, import_id: str, chunk: int, step: int) -> None:
        self.markers[(import_id, chunk, step)]["sent"] = True

    def finish(self, import_id: str, at: str, status: str, error: dict[str, Any] | None = None) -> bool:
        job = self.jobs.get(import_id)
        if job is None or job.finished_at is not None:
            return False
        job.finished_at, job.status, job.error = at, status, error
        return True


class FakeImportObjects:
    def __init__(self, piece: int = 1 << 20) -> None:
        self.objects: dict[str, bytes] = {}
        self.piece = piece

    def head(self, key: str) -> ObjectInfo | None:
        import hashlib

        body = self.objects.get(key)
        return None if body is None else ObjectInfo(key, len(body), "sha256:" + hashlib.sha256(body).hexdigest())

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        body = self.objects[key][start:end]
        for offset in range(0, len(body), self.piece):
            yield body[offset : offset + self.piece]

    def put(self, key: str, body: bytes) -> None:
        self.objects[key] = body


class FakeImportQueue:
    def __init__(self) -> None:
        self.sent: list[ImportTask] = []

    def send(self, tasks: list[ImportTask]) -> None:
        self.sent.extend(tasks)
