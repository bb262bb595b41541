"""Segment backfill: a new or changed segment evaluated over every existing profile, not only over those that change.

A job splits the profiles table into `parallelism` DynamoDB parallel-Scan segments. Each scan segment is a chain of
queue messages (`BackfillTask`): a worker scans bounded pages from the chain's cursor, re-folds each live profile
through `FoldService.refold` (the same versioned write as the fold and the sweeps; the profiles stream then updates
memberships, exact sizes and scenarios as for any change), commits, and puts the next step on the queue.

Exactly-once progress on an at-least-once queue, with one cursor item per scan segment:
- a step runs only when the cursor stands at its number; the commit moves the cursor one step on and adds the
  step's counts to the job in one transaction, conditional on the cursor still standing there, so a redelivered or
  duplicated message never counts twice (its refolds find nothing left to change and write nothing);
- the next message is sent after the commit and then recorded in the cursor (`sent`): a redelivered step whose
  commit went through but whose continuation may not have been sent (a crash in between) sends it again, and one
  whose continuation is recorded as sent is dropped, so a duplicate never grows into a second chain.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from chalicelib.profiles.fold_batches import TransientFoldError
from chalicelib.profiles.ports import BackfillJob, BackfillTask
from chalicelib.shared.faults import is_transient
from chalicelib.tracking.events import iso

if TYPE_CHECKING:
    from chalicelib.profiles.ports import BackfillJobStore, BackfillQueue, ProfileScan, StoredProfile
    from chalicelib.shared.clock import Clock

log = logging.getLogger("one2one")

# 16 scan segments. Measured (bench/backfill.py, 2,000 stored profiles of 4.7 KB on moto, one core): a worker
# evaluates 670 profiles/s when half of them enter the segment (each written) and 1,500/s when nothing changes; at a
# 1 GB Lambda's 0.58 vCPU plus 8 ms per profile write that models to ~145/s per worker, so 16 finish 1M profiles in
# ~7 minutes in that write-heavy case. 16 workers write at most ~1,200 profiles/s (~7,000 WRU/s with the membership
# transactions): about what an on-demand table that has served busy days absorbs without throttling, and the
# profiles stream's consumers keep up. 10M profiles in 10 minutes needs ~115 (ONE2ONE_BACKFILL_PARALLELISM).
DEFAULT_PARALLELISM = 16
MAX_PARALLELISM = 1000  # DynamoDB allows 1,000,000 scan segments; beyond 1,000 functions the account limit binds
# ~100 profiles of ~4.7 KB stored are ~470 KB: under the 1 MB a Scan request may return, so one request per page.
PAGE_SIZE = 100
MAX_PAGES_PER_STEP = 100  # a step is also bounded by the Lambda's deadline; whichever comes first
MAX_REASON = 200
SEGMENT_KINDS = ("segment_entered", "segment_exited")

Deadline = float | None  # time.monotonic() value after which a step stops starting pages and commits


class BackfillRefolder(Protocol):
    def refold(
        self, profile_id: str, prefetched: StoredProfile | None = None, *, backfill_of: Collection[str] = ()
    ) -> bool: ...


class BackfillNotReady(Exception):
    """A step arrived before its predecessor's commit is visible: the queue delivers it again later."""


# -- pure planning ---------------------------------------------------------------------------------------------------


def new_job_id(now: datetime, token: str | None = None) -> str:
    """`bf-<UTC start, sortable>-<random>`: job ids sort by start time, so the recent jobs are one Query."""
    return f"bf-{now.strftime('%Y%m%dT%H%M%SZ')}-{token or secrets.token_hex(3)}"


def plan_tasks(job_id: str, total_segments: int) -> list[BackfillTask]:
    """The first step of every scan segment: together they cover the whole table exactly once."""
    if not 1 <= total_segments <= MAX_PARALLELISM:
        raise ValueError(f"parallelism must be from 1 to {MAX_PARALLELISM}")
    return [BackfillTask(job_id, segment, total_segments) for segment in range(total_segments)]


def continuation(task: BackfillTask, start_after: str) -> BackfillTask:
    """The next step of the same chain, scanning on after `start_after`."""
    return BackfillTask(task.job_id, task.segment, task.total_segments, task.step + 1, start_after)


def encode_task(task: BackfillTask) -> str:
    body: dict[str, Any] = {"j": task.job_id, "s": task.segment, "of": task.total_segments, "n": task.step}
    if task.start_after is not None:
        body["after"] = task.start_after
    return json.dumps(body, separators=(",", ":"))


def decode_task(text: str) -> BackfillTask:
    """A queue message back into its task; ValueError when it is not one (the queue's DLQ keeps it)."""
    try:
        body = json.loads(text)
        task = BackfillTask(
            job_id=body["j"],
            segment=body["s"],
            total_segments=body["of"],
            step=body.get("n", 0),
            start_after=body.get("after"),
        )
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"not a backfill task: {text[:200]!r}") from exc
    ints = (task.segment, task.total_segments, task.step)
    if (
        not isinstance(task.job_id, str)
        or not task.job_id
        or any(isinstance(n, bool) or not isinstance(n, int) for n in ints)
        or not 0 <= task.segment < task.total_segments <= MAX_PARALLELISM
        or task.step < 0
        or not (task.start_after is None or isinstance(task.start_after, str))
    ):
        raise ValueError(f"not a backfill task: {text[:200]!r}")
    return task


def clean_segment_ids(segment_ids: Sequence[str]) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(s for s in segment_ids if isinstance(s, str) and s))
    if not ids:
        raise ValueError("name at least one segment to backfill")
    return ids


# -- the use case ----------------------------------------------------------------------------------------------------

StepOutcome = Literal["committed", "finished", "duplicate", "resent", "unknown_job"]


@dataclass
class StepReport:
    outcome: StepOutcome
    pages: int = 0
    evaluated: int = 0
    written: int = 0
    skipped: int = 0
    next_task: BackfillTask | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class BackfillService:
    """Starts backfill jobs (the `BackfillStarter` port: `start(segment_ids, reason) -> job_id`) and runs their steps.

    Example
    -------
    >>> job_id = service.start(["bought_90d"], "segment created")  # doctest: +SKIP
    >>> service.status(job_id).finished  # doctest: +SKIP
    """

    def __init__(
        self,
        scan: ProfileScan,
        jobs: BackfillJobStore,
        queue: BackfillQueue,
        refolder: BackfillRefolder,
        clock: Clock,
        *,
        parallelism: int = DEFAULT_PARALLELISM,
        page_size: int = PAGE_SIZE,
        max_pages_per_step: int = MAX_PAGES_PER_STEP,
    ) -> None:
        self.scan = scan
        self.jobs = jobs
        self.queue = queue
        self.refolder = refolder
        self.clock = clock
        self.parallelism = parallelism
        self.page_size = page_size
        self.max_pages_per_step = max_pages_per_step

    def start(self, segment_ids: Sequence[str], reason: str) -> str:
        """Start evaluating `segment_ids` over every existing profile; returns the job id at once (the work runs on
        the backfill queue). ValueError when no segment is named."""
        ids = clean_segment_ids(segment_ids)
        now = self.clock.now()
        job = BackfillJob(
            job_id=new_job_id(now),
            segment_ids=ids,
            reason=(reason or "")[:MAX_REASON],
            total_segments=self.parallelism,
            started_at=iso(now),
        )
        tasks = plan_tasks(job.job_id, job.total_segments)
        self.jobs.create(job)
        self.queue.send(tasks)
        log.info("backfill %s started: %s over %d scan segments (%s)", job.job_id, ids, job.total_segments, reason)
        return job.job_id

    def status(self, job_id: str) -> BackfillJob | None:
        return self.jobs.get(job_id)

    def recent(self, limit: int = 20) -> list[BackfillJob]:
        return self.jobs.recent(limit)

    def run(self, task: BackfillTask, deadline: Deadline = None) -> StepReport:
        """Run one step of a scan segment's chain (see the module docstring for why it is safe to run twice)."""
        cursor = self.jobs.cursor(task.job_id, task.segment)
        job = self.jobs.get(task.job_id)
        if cursor is None or job is None or job.total_segments != task.total_segments:
            log.warning("backfill: no job %s segment %d; message dropped", task.job_id, task.segment)
            return StepReport("unknown_job")
        if cursor.step > task.step:
            if cursor.step == task.step + 1 and not cursor.done and cursor.sent < cursor.step:
                # Committed, but the continuation may never have reached the queue (a crash in between).
                next_task = continuation(task, cursor.start_after or "")
                self._send(next_task)
                return StepReport("resent", next_task=next_task)
            if cursor.done:
                self._finish(task.job_id)  # heals a finish lost after the last commit
            return StepReport("duplicate")
        if cursor.step < task.step:
            raise BackfillNotReady(f"{task.job_id} segment {task.segment}: step {task.step}, cursor {cursor.step}")

        report = StepReport("committed")
        start_after = cursor.start_after
        while True:
            profiles, start_after = self.scan.scan_page(task.segment, task.total_segments, start_after, self.page_size)
            report.pages += 1
            for stored in profiles:
                self._evaluate(stored, job.segment_ids, report)
            if start_after is None or report.pages >= self.max_pages_per_step or _out_of_time(deadline):
                break
        if not self.jobs.commit(task, start_after, report.evaluated, report.written, report.skipped):
            # A duplicate of this step committed first; it sends the continuation.
            return StepReport("duplicate", pages=report.pages)
        if start_after is None:
            self._finish(task.job_id)
            report.outcome = "finished"
            return report
        report.next_task = continuation(task, start_after)
        self._send(report.next_task)
        return report

    def _evaluate(self, stored: StoredProfile, segment_ids: Collection[str], report: StepReport) -> None:
        if not stored.live:
            report.skipped += 1  # merged away or erased: nothing of theirs may come back
            return
        report.evaluated += 1
        try:
            report.written += int(self.refolder.refold(stored.profile_id, stored, backfill_of=segment_ids))
        except TransientFoldError:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise  # the step is delivered again and re-does its pages from the cursor
            # A profile the fold cannot read must not stop the other million: it is re-evaluated on its next fold.
            log.exception("backfill: profile %s could not be re-evaluated; skipped", stored.profile_id)

    def _send(self, task: BackfillTask) -> None:
        self.queue.send([task])
        self.jobs.mark_sent(task.job_id, task.segment, task.step)

    def _finish(self, job_id: str) -> None:
        if self.jobs.finish(job_id, iso(self.clock.now())):
            job = self.jobs.get(job_id)
            log.info("backfill %s finished: %s", job_id, asdict(job) if job else {})


def _out_of_time(deadline: Deadline) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def job_view(job: BackfillJob) -> dict[str, Any]:
    """The job as the admin API shows it."""
    return {
        "job_id": job.job_id,
        "segment_ids": list(job.segment_ids),
        "reason": job.reason,
        "status": "finished" if job.finished else "running",
        "scan_segments": {"total": job.total_segments, "done": job.segments_done},
        "profiles_evaluated": job.profiles_evaluated,
        "profiles_written": job.profiles_written,
        "profiles_skipped": job.profiles_skipped,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }
