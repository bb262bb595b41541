"""Export ports: the job's record, the file it writes, the queue its steps travel on, and what it reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chalicelib.profiles.ports import StoredProfile


@dataclass(frozen=True)
class ExportTask:
    """Step `step` of export `export_id`'s chain."""

    export_id: str
    step: int


@dataclass(frozen=True)
class ExportJob:
    """One segment export. `step` is where the chain stands: the step that runs next, and the one a commit moves on.

    `cursor` is the members page the next step starts at; `parts` the ETags of the multipart upload's parts so far;
    `carry` says that rows read but too few for a part (S3 parts are at least 5 MB) wait in a carry object.
    `sent`: the continuation of the last committed step is on the queue (a redelivered step then sends nothing)."""

    export_id: str
    segment_id: str
    key: str
    created_at: str
    status: str = "running"  # running | finished | failed
    step: int = 0
    cursor: str | None = None
    parts: tuple[str, ...] = ()
    upload_id: str | None = None
    carry: bool = False
    rows: int = 0
    skipped: int = 0
    sent: bool = False
    finished_at: str | None = None
    error: str | None = None
    expected: int = 0  # the segment's size when the export started (progress)


class ExportJobStore(Protocol):
    def create(self, job: ExportJob) -> None: ...

    def get(self, export_id: str) -> ExportJob | None: ...

    def recent(self, limit: int) -> list[ExportJob]:
        """The newest jobs first."""
        ...

    def commit(self, job: ExportJob, expected_step: int) -> bool:
        """Replace the job's record if it still stands at `expected_step`; False when another delivery moved it."""
        ...

    def mark_sent(self, export_id: str, step: int) -> None:
        """Record that the continuation at `step` is on the queue."""
        ...


class ExportFiles(Protocol):
    """The CSV objects (a multipart upload for a big file), the carry objects between steps, download links."""

    def put(self, key: str, body: bytes) -> None: ...

    def start_upload(self, key: str) -> str: ...

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        """Upload (or replace) part `number`; returns its ETag."""
        ...

    def complete_upload(self, key: str, upload_id: str, etags: Iterable[str]) -> None: ...

    def get_carry(self, export_id: str, step: int) -> bytes: ...

    def put_carry(self, export_id: str, step: int, body: bytes) -> None: ...

    def delete_carry(self, export_id: str, step: int) -> None: ...

    def download_url(self, key: str, expires_seconds: int) -> str: ...


class ExportQueue(Protocol):
    def send(self, tasks: list[ExportTask]) -> None: ...


class SegmentMembers(Protocol):
    def members(
        self, segment_id: str, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]: ...

    def sizes(self) -> dict[str, int]: ...


class Profiles(Protocol):
    def get_many(self, profile_ids: Iterable[str]) -> dict[str, StoredProfile]: ...
