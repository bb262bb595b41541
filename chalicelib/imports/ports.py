"""Ports of the imports wing: the import files, the job store (progress and report), the work queue, suppressions and
static segments. Protocols speaking the wing's own records; `adapters/` implement them for S3, DynamoDB and SQS."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.imports.ranges import RangeCounts


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    fingerprint: str  # the content's SHA-256 checksum when S3 has one, else its ETag: equal content, equal value


class ImportFileUnreadable(Exception):
    """The import's file cannot be read any more (deleted or replaced after the import started): `code`, message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ImportJob:
    import_id: str
    kind: str  # people | orders | events | pinpoint_endpoints | pinpoint_segment
    fmt: str  # csv | jsonl
    key: str
    size: int
    content_hash: str
    created_at: str
    chunks: int
    compressed: bool = False
    header: list[str] = field(default_factory=list)
    segment_id: str | None = None
    status: str = "running"  # counting | running | finished | failed
    error: dict[str, Any] | None = None
    counted: int = 0
    chunks_done: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    messages: int = 0
    notices: dict[str, int] = field(default_factory=dict)
    finished_at: str | None = None


@dataclass(frozen=True)
class ImportTask:
    """One unit of work: count a chunk's quotes and newlines, or import its records from `skip` on (a step)."""

    import_id: str
    phase: str  # count | rows
    chunk: int
    start: int
    end: int
    step: int = 0
    skip: int = 0
    lines_before: int = 0
    in_quotes: bool = False
    at_record_start: bool = True


@dataclass(frozen=True)
class RejectedRow:
    line: int
    part: str
    reason: dict[str, Any]
    raw: str


@dataclass(frozen=True)
class StepMarker:
    final: bool
    next_skip: int | None
    sent: bool


class ImportObjects(Protocol):
    def head(self, key: str) -> ObjectInfo | None:
        """Size and fingerprint of an object, None when it does not exist."""
        ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The object's bytes from `start` (to `end`, exclusive, when given), in pieces, read lazily."""
        ...

    def put(self, key: str, body: bytes) -> None: ...


class ImportJobStore(Protocol):
    def create(self, job: ImportJob) -> bool:
        """Store a new job; False (nothing written) when one with that id exists."""
        ...

    def get(self, import_id: str) -> ImportJob | None: ...

    def recent(self, limit: int = 20) -> list[ImportJob]:
        """Newest first."""
        ...

    def save_counts(self, import_id: str, chunk: int, counts: RangeCounts) -> bool:
        """Keep a chunk's counts and add one to `counted`, once (False: already kept)."""
        ...

    def counts(self, import_id: str) -> dict[int, RangeCounts]: ...

    def set_flag(self, import_id: str, name: str) -> bool:
        """Set a once-only flag on the job (True for the caller that set it)."""
        ...

    def has_flag(self, import_id: str, name: str) -> bool: ...

    def reject(self, import_id: str, rows: Iterable[RejectedRow]) -> None:
        """Keep rejected rows in the report (by line and part: writing one twice keeps one)."""
        ...

    def rejected(self, import_id: str, limit: int = 100, after_line: int = 0) -> list[RejectedRow]:
        """Rejected rows in line order, from after `after_line`."""
        ...

    def marker(self, import_id: str, chunk: int, step: int) -> StepMarker | None: ...

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
        """Record a step once: its marker and the job's counters in one transaction (False: committed before)."""
        ...

    def mark_sent(self, import_id: str, chunk: int, step: int) -> None: ...

    def finish(self, import_id: str, at: str, status: str, error: dict[str, Any] | None = None) -> bool:
        """Set the job's end state once (True for the caller that set it)."""
        ...


class ImportQueue(Protocol):
    def send(self, tasks: list[ImportTask]) -> None: ...


class Suppressions(Protocol):
    """The delivery wing's suppression list (hard bounces, complaints): a suppressed address is never messaged."""

    def suppress(self, channel: str, address: str, reason: str, now: Any) -> None: ...


class SegmentSaver(Protocol):
    def __call__(self, segment_id: str, body: dict[str, Any]) -> None:
        """Create or replace a segment definition (the definitions store; its change starts a backfill)."""
        ...
