"""Segment export: the members of a segment as one CSV object, built by a chain of steps that each read member pages
(profile-id order, one Query page at a time) and their profiles (BatchGetItem), and append at least one multipart
part (S3's minimum is 5 MB, so rows short of it wait in a carry object for the next step).

Exactly-once on an at-least-once queue, like the backfill chain (profiles/backfill.py):
- a step runs only when the job stands at its number; its commit (cursor, parts, counts, step + 1) is conditional on
  the job still standing there, so a duplicate delivery counts nothing twice and an upload repeated before the
  commit replaces its own part number;
- the next step is sent after the commit and then recorded (`sent`): a redelivered step that committed but may not
  have sent its continuation sends it again; one whose continuation is recorded is dropped.
A multipart upload created by a step that crashed before its commit is left incomplete; the bucket's lifecycle
aborts it (infra/resources.json `AbortIncompleteMultipartUpload`).

Never an erased person: their membership items go with the erasure, and a member whose profile is erased, merged
away or gone when the step reads it is skipped (counted in `skipped`). A file already written keeps whoever was a
member then: export objects expire after a week (the bucket's lifecycle) and links after an hour.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.exports.columns import encode_rows, header, member_row
from chalicelib.exports.ports import ExportJob, ExportTask
from chalicelib.tracking.events import iso

if TYPE_CHECKING:
    from chalicelib.exports.ports import ExportFiles, ExportJobStore, ExportQueue, Profiles, SegmentMembers
    from chalicelib.shared.clock import Clock

log = logging.getLogger("one2one")

PAGE_SIZE = 1000  # members per Query page (~60 bytes each: well under the 1 MB a Query returns)
MIN_PART_BYTES = 5 * 1024 * 1024  # S3's minimum for every part but the last
PART_BYTES = 8 * 1024 * 1024  # a step stops reading once it has this much: ~55,000 rows, ~550 BatchGetItem calls
# Segments up to this size are exported inside the admin request (one step: ~10 BatchGetItem calls, ~1 s), bigger
# ones on the export queue. A small segment whose step does not finish in time continues on the queue anyway.
SYNC_MAX_MEMBERS = 10_000
LINK_SECONDS = 3600

Deadline = float | None  # time.monotonic() value after which a step stops reading pages


class ExportNotReady(Exception):
    """A step arrived before its predecessor's commit is visible: the queue delivers it again later."""


def new_export_id(now: datetime, token: str | None = None) -> str:
    """`ex-<UTC start, sortable>-<random>`."""
    return f"ex-{now.strftime('%Y%m%dT%H%M%SZ')}-{token or secrets.token_hex(3)}"


def export_key(segment_id: str, export_id: str) -> str:
    return f"exports/{segment_id}/{export_id}.csv"


def encode_task(task: ExportTask) -> str:
    return json.dumps({"e": task.export_id, "n": task.step}, separators=(",", ":"))


def decode_task(body: str) -> ExportTask:
    """The task in a queue message; ValueError for anything else (the DLQ keeps it)."""
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("e"), str) or not isinstance(data.get("n"), int):
        raise ValueError(f"not an export task: {body[:200]!r}")
    return ExportTask(data["e"], data["n"])


def job_view(job: ExportJob) -> dict[str, Any]:
    """The job as the admin API shows it (no upload ids or ETags)."""
    return {
        "export_id": job.export_id,
        "segment_id": job.segment_id,
        "status": job.status,
        "rows": job.rows,
        "skipped": job.skipped,
        "expected": job.expected,
        "steps": job.step,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        **({"error": job.error} if job.error else {}),
    }


class ExportService:
    def __init__(
        self,
        jobs: ExportJobStore,
        files: ExportFiles,
        queue: ExportQueue,
        members: SegmentMembers,
        profiles: Profiles,
        clock: Clock,
    ) -> None:
        self.jobs = jobs
        self.files = files
        self.queue = queue
        self.members = members
        self.profiles = profiles
        self.clock = clock

    def start(self, segment_id: str, deadline: Deadline = None) -> ExportJob:
        """Create the export of a (known) segment. A segment of at most SYNC_MAX_MEMBERS runs its first step now,
        within `deadline`, and is usually finished on return; the rest continue on the export queue."""
        now = self.clock.now()
        export_id = new_export_id(now)
        expected = max(0, self.members.sizes().get(segment_id, 0))
        job = ExportJob(export_id, segment_id, export_key(segment_id, export_id), iso(now), expected=expected)
        self.jobs.create(job)
        if expected <= SYNC_MAX_MEMBERS:
            self.run(ExportTask(export_id, 0), deadline)
        else:
            self.queue.send([ExportTask(export_id, 0)])
            self.jobs.mark_sent(export_id, 0)
        return self.jobs.get(export_id) or job

    def status(self, export_id: str) -> ExportJob | None:
        return self.jobs.get(export_id)

    def recent(self, limit: int) -> list[ExportJob]:
        return self.jobs.recent(limit)

    def download_url(self, job: ExportJob) -> str | None:
        return self.files.download_url(job.key, LINK_SECONDS) if job.status == "finished" else None

    def run(self, task: ExportTask, deadline: Deadline = None) -> str:
        """One step of the chain; returns what it did ("step", "finished", "duplicate", "resent", "done")."""
        job = self.jobs.get(task.export_id)
        if job is None or job.status != "running":
            return "done"
        if task.step < job.step:
            if task.step == job.step - 1 and not job.sent:
                self._continue(job)
                return "resent"
            return "duplicate"
        if task.step > job.step:
            raise ExportNotReady(f"export {job.export_id} stands at step {job.step}, not {task.step}")
        return self._step(job, deadline)

    def _step(self, job: ExportJob, deadline: Deadline) -> str:
        buffer = bytearray(self.files.get_carry(job.export_id, job.step) if job.carry else b"")
        if job.step == 0:
            buffer += header()
        cursor, rows, skipped, done = job.cursor, 0, 0, False
        while True:
            page, cursor = self.members.members(job.segment_id, PAGE_SIZE, cursor)
            found = self.profiles.get_many([m["profile_id"] for m in page])
            lines: list[list[str]] = []
            for member in page:
                stored = found.get(member["profile_id"])
                if stored is None or not stored.live:
                    skipped += 1  # erased, merged away or gone since it entered: never exported
                    continue
                lines.append(member_row(stored.document(), member.get("entered_at")))
            buffer += encode_rows(lines)
            rows += len(lines)
            if cursor is None:
                done = True
                break
            if len(buffer) >= PART_BYTES or (deadline is not None and time.monotonic() >= deadline):
                break
        parts, upload_id, carry = list(job.parts), job.upload_id, False
        if done and not parts:
            self.files.put(job.key, bytes(buffer))
        elif done or len(buffer) >= MIN_PART_BYTES:
            upload_id = upload_id or self.files.start_upload(job.key)
            parts.append(self.files.upload_part(job.key, upload_id, len(parts) + 1, bytes(buffer)))
            if done:
                self.files.complete_upload(job.key, upload_id, parts)
        else:
            self.files.put_carry(job.export_id, job.step + 1, bytes(buffer))
            carry = True
        committed = replace(
            job,
            step=job.step + 1,
            cursor=cursor,
            parts=tuple(parts),
            upload_id=upload_id,
            carry=carry,
            rows=job.rows + rows,
            skipped=job.skipped + skipped,
            sent=done,
            status="finished" if done else "running",
            finished_at=iso(self.clock.now()) if done else None,
        )
        if not self.jobs.commit(committed, expected_step=job.step):
            return "duplicate"  # another delivery of this step committed first; its continuation is its own
        if job.carry:
            self.files.delete_carry(job.export_id, job.step)
        if done:
            log.info("export %s of %s: %d rows (%d skipped)", job.export_id, job.segment_id, committed.rows, skipped)
            return "finished"
        self._continue(committed)
        return "step"

    def fail(self, export_id: str, reason: str) -> bool:
        """End a running export as `failed` (its step failed on every delivery); False when it had already ended."""
        job = self.jobs.get(export_id)
        if job is None or job.status != "running":
            return False
        failed = replace(job, status="failed", error=reason, finished_at=iso(self.clock.now()))
        return self.jobs.commit(failed, expected_step=job.step)

    def _continue(self, job: ExportJob) -> None:
        self.queue.send([ExportTask(job.export_id, job.step)])
        self.jobs.mark_sent(job.export_id, job.step)
