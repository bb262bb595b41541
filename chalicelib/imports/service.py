"""The import use case: plan an import file into chunks on the import queue, and run one chunk step per message.

Flow: `start` (an S3 drop or `POST /admin/imports`) reads the object's size, fingerprint and header, creates the job
(its id is derived from kind + content fingerprint, so the same file imported again is the same job: nothing is
done twice), and sends the work. A file of one chunk (8 MB, or any gzip file: gzip cannot be entered mid-stream) is
imported at once; a larger one first gets a parallel counting pass (ranges.py: quotes and newlines per chunk) that
places every chunk's first record exactly and numbers its lines. Each chunk is then a chain of steps: a step imports
records from its `skip` until its deadline or the chunk's end, through the ingest use case (server-trusted, the
file's own times kept), then commits its marker and counts once (a redelivered step finds its marker: it counts
nothing and at most re-sends its continuation). Writes themselves are idempotent (deterministic message ids), so a
step that crashed half way and runs again stores the same events under the same keys, which the fold does not fold
twice (it folds INSERTs only).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.imports import pinpoint
from chalicelib.imports.ports import ImportFileUnreadable, ImportJob, ImportTask, RejectedRow
from chalicelib.imports.ranges import (
    BOM,
    CHUNK_BYTES,
    ChunkStart,
    Record,
    count_range,
    plan_ranges,
    records,
    starts_from_counts,
)
from chalicelib.imports.rows import RowContext, RowError, convert, parse_header, parse_row
from chalicelib.tracking.events import iso
from chalicelib.tracking.ingest import RequestMeta
from chalicelib.tracking.sources import Source

if TYPE_CHECKING:
    from datetime import datetime

    from chalicelib.imports.ports import (
        ImportJobStore,
        ImportObjects,
        ImportQueue,
        SegmentSaver,
        Suppressions,
    )
    from chalicelib.shared.clock import Clock
    from chalicelib.tracking.ingest import IngestService

log = logging.getLogger("one2one")

IMPORT_KINDS = ("people", "orders", "events", "pinpoint_endpoints", "pinpoint_segment")
IMPORT_ID = re.compile(r"^imp-[a-z_]+-[0-9a-f]{24}$")
SEGMENT_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
BATCH_ROWS = 100  # rows per ingest call: one BatchGetItem of identities and 4 BatchWriteItems of events
MAX_ROWS_PER_STEP = 50_000
MAX_REPORTED_PER_STEP = 500  # rejected rows kept with their reason per step (all are counted)
END_OF_STREAM = 1 << 62
IMPORT_SOURCE = Source(source_id="import", name="bulk import", key_hash="-", kind="server", honour_gpc=False)
_SERVER = RequestMeta(headers={})
Deadline = float | None


class ImportRefused(ValueError):
    """The import cannot start (unknown kind, unreadable header, missing object): `code`, `message`, `field`."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field

    def to_dict(self) -> dict[str, Any]:
        out = {"error": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


def kind_from_key(key: str) -> tuple[str, str | None]:
    """The import a dropped object asks for, by its prefix: `people/`, `orders/`, `events/`, `pinpoint/endpoints/`,
    `pinpoint/segments/<segment id>/` (and `uploads/<kind>/...`, the API's own uploads)."""
    parts = key.split("/")
    if parts[0] == "uploads" and len(parts) > 2:
        parts = parts[1:]
    if parts[0] in ("people", "orders", "events"):
        return parts[0], None
    if parts[0] == "pinpoint" and len(parts) > 2 and parts[1] == "endpoints":
        return "pinpoint_endpoints", None
    if parts[0] == "pinpoint" and len(parts) > 3 and parts[1] == "segments":
        return "pinpoint_segment", parts[2]
    if parts[0] in ("pinpoint_endpoints", "pinpoint_segment") and len(parts) > 1:
        return parts[0], (parts[1] if parts[0] == "pinpoint_segment" and len(parts) > 2 else None)
    raise ImportRefused("unknown_kind", f"{key!r}: put files under people/, orders/, events/ or pinpoint/", "key")


def format_from_key(key: str) -> tuple[str, bool]:
    name = key.rsplit("/", 1)[-1].lower()
    compressed = name.endswith(".gz")
    if compressed:
        name = name[:-3]
    if name.endswith(".csv"):
        return "csv", compressed
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl", compressed
    if compressed:
        return "jsonl", True  # Pinpoint's export files are `<id>.gz` of JSON lines
    raise ImportRefused("unknown_format", f"{key!r}: name files .csv, .jsonl or .ndjson (optionally .gz)", "key")


def import_id_for(kind: str, fingerprint: str, segment_id: str | None = None) -> str:
    digest = hashlib.sha256(f"{kind}\n{segment_id or ''}\n{fingerprint}".encode()).hexdigest()
    return f"imp-{kind}-{digest[:24]}"


@dataclass
class StepReport:
    outcome: str  # committed | finished | duplicate | resent | unknown_import | counted | failed
    rows: int = 0
    accepted: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ImportService:
    """Starts imports and runs their steps (see the module docstring).

    Example
    -------
    >>> job = service.start_upload("people", b"email,first_name\\na@example.com,Ann\\n", "people.csv")  # doctest: +SKIP
    >>> service.status(job.import_id).rows_accepted  # doctest: +SKIP
    """

    def __init__(
        self,
        objects: ImportObjects,
        jobs: ImportJobStore,
        queue: ImportQueue,
        ingest: IngestService,
        clock: Clock,
        *,
        suppressions: Suppressions | None = None,
        save_segment: SegmentSaver | None = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.objects = objects
        self.jobs = jobs
        self.queue = queue
        self.ingest = ingest
        self.clock = clock
        self.suppressions = suppressions
        self.save_segment = save_segment
        self.chunk_bytes = chunk_bytes

    # -- starting ---------------------------------------------------------------------------------------------------
    def start_upload(
        self, kind: str, body: bytes, filename: str, segment_id: str | None = None
    ) -> tuple[ImportJob, bool]:
        """Store an uploaded file in the import bucket under `uploads/` and start it. Returns (job, created)."""
        self._check_kind(kind, segment_id)
        fmt, compressed = format_from_key(filename)
        digest = hashlib.sha256(body).hexdigest()
        extension = ("csv" if fmt == "csv" else "jsonl") + (".gz" if compressed else "")
        folder = f"{kind}/{segment_id}" if segment_id else kind
        key = f"uploads/{folder}/{digest}.{extension}"
        self.objects.put(key, body)
        return self.start(key, kind, segment_id)

    def start(self, key: str, kind: str | None = None, segment_id: str | None = None) -> tuple[ImportJob, bool]:
        """Plan the import of an object of the bucket. Returns (job, created); an existing job for the same content
        is returned as it is. Raises ImportRefused (nothing stored) when the file cannot be imported at all."""
        if kind is None:
            kind, segment_id = kind_from_key(key)
        self._check_kind(kind, segment_id)
        fmt, compressed = format_from_key(key)
        info = self.objects.head(key)
        if info is None:
            raise ImportRefused("not_found", f"no object {key!r} in the import bucket", "key")
        import_id = import_id_for(kind, info.fingerprint, segment_id)
        existing = self.jobs.get(import_id)
        if existing is not None:
            return existing, False
        header = self._header(key, kind, fmt, compressed)
        ranges = [(0, END_OF_STREAM)] if compressed else plan_ranges(info.size, self.chunk_bytes)
        job = ImportJob(
            import_id=import_id,
            kind=kind,
            fmt=fmt,
            key=key,
            size=info.size,
            content_hash=hashlib.sha256(info.fingerprint.encode()).hexdigest(),
            created_at=iso(self.clock.now()),
            chunks=len(ranges),
            compressed=compressed,
            header=header,
            segment_id=segment_id,
            status="counting" if len(ranges) > 1 else "running",
        )
        if not self.jobs.create(job):
            return self.jobs.get(import_id) or job, False
        if kind == "pinpoint_segment" and self.save_segment is not None and segment_id:
            self.save_segment(segment_id, pinpoint.static_segment(segment_id, key))
        if len(ranges) == 1:
            start, end = ranges[0]
            self.queue.send([ImportTask(import_id, "rows", 0, start, end)])
        else:
            self.queue.send([ImportTask(import_id, "count", i, s, e) for i, (s, e) in enumerate(ranges)])
        log.info("import %s started: %s %s (%d bytes, %d chunks)", import_id, kind, key, info.size, len(ranges))
        return job, True

    def _check_kind(self, kind: str, segment_id: str | None) -> None:
        if kind not in IMPORT_KINDS:
            raise ImportRefused("unknown_kind", f"kind must be one of {', '.join(IMPORT_KINDS)}", "kind")
        if kind == "pinpoint_segment" and not (segment_id and SEGMENT_ID.match(segment_id)):
            raise ImportRefused(
                "invalid_parameter",
                "a segment import needs a segment id matching ^[a-z0-9][a-z0-9_-]{0,63}$",
                "segment",
            )

    def _header(self, key: str, kind: str, fmt: str, compressed: bool) -> list[str]:
        try:
            first = next(self._records(key, ChunkStart(0, 0, END_OF_STREAM), fmt, compressed), None)
        except (zlib.error, EOFError) as exc:
            raise ImportRefused("corrupt_file", f"the file cannot be decompressed: {exc}") from None
        if first is None:
            raise ImportRefused("empty_file", "the file has no rows")
        if first.data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ImportRefused("wrong_encoding", "the file is UTF-16; save it as UTF-8")
        if fmt != "csv":
            return []
        try:
            if kind == "pinpoint_segment":
                return pinpoint.segment_header(first.data)
            return parse_header(first.data, kind)  # type: ignore[arg-type]
        except RowError as exc:
            raise ImportRefused(exc.code, f"line 1: {exc.message}", exc.column) from None

    # -- reading ----------------------------------------------------------------------------------------------------
    def status(self, import_id: str) -> ImportJob | None:
        return self.jobs.get(import_id) if IMPORT_ID.match(import_id) else None

    def recent(self, limit: int = 20) -> list[ImportJob]:
        return self.jobs.recent(limit)

    def report(self, import_id: str, limit: int = 100, after_line: int = 0) -> list[RejectedRow]:
        return self.jobs.rejected(import_id, limit, after_line)

    # -- the worker -------------------------------------------------------------------------------------------------
    def run(self, task: ImportTask, deadline: Deadline = None) -> StepReport:
        job = self.jobs.get(task.import_id)
        if job is None or task.chunk >= job.chunks:
            log.warning("import: no job %s chunk %d; message dropped", task.import_id, task.chunk)
            return StepReport("unknown_import")
        if job.status == "failed":
            return StepReport("duplicate")
        # Failures no retry can mend end the import as `failed` with the reason; what was imported before stays
        # (a mended file is a new import with new message ids: import only the rows that are left).
        try:
            if task.phase == "count":
                return self._count(job, task)
            return self._rows(job, task, deadline)
        except ImportFileUnreadable as exc:
            self.fail(job.import_id, exc.code, str(exc))
        except (zlib.error, EOFError) as exc:  # a gzip file broken in the middle
            self.fail(job.import_id, "corrupt_file", f"the file cannot be decompressed: {exc}")
        return StepReport("failed")

    def fail(self, import_id: str, code: str, message: str) -> bool:
        """End a started import as `failed` with `{"error": code, "message": ...}`; False when it had already ended
        (a finished import stays finished). Its remaining steps are then dropped."""
        failed = self.jobs.finish(import_id, iso(self.clock.now()), "failed", {"error": code, "message": message})
        if failed:
            log.warning("import %s failed: %s: %s", import_id, code, message)
        return failed

    def _count(self, job: ImportJob, task: ImportTask) -> StepReport:
        data = b"".join(self.objects.read(job.key, task.start, task.end))
        self.jobs.save_counts(job.import_id, task.chunk, count_range(data))
        job = self.jobs.get(job.import_id) or job
        if job.counted < job.chunks or self.jobs.has_flag(job.import_id, "rows_sent"):
            return StepReport("counted")
        # The last count (or a redelivery after it): every chunk now knows where its first record starts.
        counts = self.jobs.counts(job.import_id)
        ranges = plan_ranges(job.size, self.chunk_bytes)
        starts = starts_from_counts(ranges, [counts[i] for i in range(len(ranges))], csv_quotes=job.fmt == "csv")
        self.queue.send(
            [_rows_task(job.import_id, s) for s in starts]
        )  # a duplicate send is harmless: steps commit once
        self.jobs.set_flag(job.import_id, "rows_sent")
        return StepReport("counted")

    def _rows(self, job: ImportJob, task: ImportTask, deadline: Deadline) -> StepReport:
        marker = self.jobs.marker(job.import_id, task.chunk, task.step)
        if marker is not None:
            if not marker.final and not marker.sent and marker.next_skip is not None:
                self._send_next(task, marker.next_skip)
                return StepReport("resent")
            self._finish_if_done(job.import_id)  # heals a finish lost after the last commit
            return StepReport("duplicate")
        # Pinpoint endpoints are JSON objects kept as they are (the events reading); segments parse their own CSV.
        row_kind: Any = {"pinpoint_endpoints": "events", "pinpoint_segment": "people"}.get(job.kind, job.kind)
        fmt: Any = job.fmt
        ctx = RowContext(
            row_kind, fmt, job.content_hash, _parse_iso(job.created_at), job.header, f"import:{job.key}"[:200]
        )
        start = ChunkStart(task.chunk, task.start, task.end, task.lines_before, task.in_quotes, task.at_record_start)
        stream = self._records(job.key, start, job.fmt, job.compressed)
        report = StepReport("committed")
        rejected: list[RejectedRow] = []
        notices: dict[str, int] = {}
        messages = 0
        seen = 0
        final = True
        batch: list[tuple[Record, list[dict[str, Any]]]] = []
        for record in stream:
            if seen < task.skip:
                seen += 1
                continue
            seen += 1
            report.rows += 1
            if job.fmt == "csv" and record.line == 1:
                report.rows -= 1
                continue  # the header
            converted = self._convert(job, ctx, record, rejected, notices)
            if converted is not None:
                batch.append((record, converted))
            if len(batch) >= BATCH_ROWS:
                messages += self._ingest(batch, rejected, report)
                batch = []
            if report.rows >= MAX_ROWS_PER_STEP or _out_of_time(deadline):
                final = False
                break
        if batch:
            messages += self._ingest(batch, rejected, report)
        if isinstance(stream, Iterator) and hasattr(stream, "close"):
            stream.close()
        report.rejected = len({r.line for r in rejected})
        report.accepted = report.rows - report.rejected
        self.jobs.reject(job.import_id, rejected[:MAX_REPORTED_PER_STEP])
        next_skip = None if final else seen
        committed = self.jobs.commit(
            task,
            accepted=report.accepted,
            rejected=report.rejected,
            messages=messages,
            notices=notices,
            final=final,
            next_skip=next_skip,
        )
        if not committed:
            return StepReport("duplicate", rows=report.rows)
        if final:
            report.outcome = "finished" if self._finish_if_done(job.import_id) else "committed"
        else:
            self._send_next(task, seen)
        return report

    def _convert(
        self,
        job: ImportJob,
        ctx: RowContext,
        record: Record,
        rejected: list[RejectedRow],
        notices: dict[str, int],
    ) -> list[dict[str, Any]] | None:
        data = record.data[len(BOM) :] if record.line == 1 and record.data.startswith(BOM) else record.data
        try:
            if record.too_long:
                raise RowError("row_too_large", "the row is longer than 64 KB")
            if not data.strip():
                raise RowError("empty_row", "the line is empty")
            if job.kind == "pinpoint_endpoints":
                endpoint = pinpoint.endpoint_messages(parse_row(data, ctx), record.line, ctx)
                self._suppress(endpoint.suppress)
                converted_messages, converted_notices = endpoint.messages, endpoint.notices
            elif job.kind == "pinpoint_segment":
                converted_messages = pinpoint.segment_row_messages(data, record.line, ctx, job.segment_id or "")
                converted_notices = []
            else:
                converted = convert(parse_row(data, ctx), record.line, ctx)
                converted_messages, converted_notices = converted.messages, converted.notices
        except RowError as exc:
            rejected.append(RejectedRow(record.line, "row", exc.to_dict(), _raw(record)))
            return None
        for notice in converted_notices:
            notices[notice] = notices.get(notice, 0) + 1
        if not converted_messages:
            notices["rows_without_messages"] = notices.get("rows_without_messages", 0) + 1
        return converted_messages

    def _ingest(
        self, batch: list[tuple[Record, list[dict[str, Any]]]], rejected: list[RejectedRow], report: StepReport
    ) -> int:
        messages = [m for _, ms in batch for m in ms]
        where = [(record, m) for record, ms in batch for m in ms]
        stored, refused = self.ingest.ingest(
            IMPORT_SOURCE, messages, None, _SERVER, batch=True, record_failures=False, historical=True
        )
        for item in refused:
            record, message = where[item["index"]]
            reason = {k: v for k, v in item.items() if k != "index"}
            if isinstance(reason.get("field"), str):
                reason["field"] = reason["field"].split(".", 1)[-1]
            part = str(message.get("messageId", "")).rsplit("-", 1)[-1] or "row"
            rejected.append(RejectedRow(record.line, part, reason, _raw(record)))
        return len(stored)

    def _suppress(self, addresses: list[tuple[str, str, str]]) -> None:
        if self.suppressions is None:
            return
        now = self.clock.now()
        for channel, address, reason in addresses:
            self.suppressions.suppress(channel, address, reason, now)

    def _records(self, key: str, chunk: ChunkStart, fmt: str, compressed: bool) -> Iterator[Record]:
        if compressed:
            source: Any = _gunzip(self.objects.read(key, 0))
        else:
            source = self.objects.read(key, chunk.start)
        return records(source, chunk, csv_quotes=fmt == "csv")

    def _send_next(self, task: ImportTask, skip: int) -> None:
        following = ImportTask(**{**asdict(task), "step": task.step + 1, "skip": skip})
        self.queue.send([following])
        self.jobs.mark_sent(task.import_id, task.chunk, task.step)

    def _finish_if_done(self, import_id: str) -> bool:
        job = self.jobs.get(import_id)
        if job is None or job.finished_at is not None or job.chunks_done < job.chunks:
            return False
        if self.jobs.finish(import_id, iso(self.clock.now()), "finished"):
            log.info("import %s finished: %d accepted, %d rejected", import_id, job.rows_accepted, job.rows_rejected)
        return True


def _rows_task(import_id: str, start: ChunkStart) -> ImportTask:
    return ImportTask(
        import_id,
        "rows",
        start.index,
        start.start,
        start.end,
        0,
        0,
        start.lines_before,
        start.in_quotes,
        start.at_record_start,
    )


def _gunzip(pieces: Iterator[bytes]) -> Iterator[bytes]:
    inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
    for piece in pieces:
        yield inflater.decompress(piece)
        while inflater.unused_data:  # concatenated gzip members (what `cat a.gz b.gz` makes)
            rest = inflater.unused_data
            inflater = zlib.decompressobj(wbits=47)
            yield inflater.decompress(rest)
    yield inflater.flush()


def _raw(record: Record) -> str:
    return record.data[:1000].decode("utf-8", "replace") if not record.too_long else "<row longer than 64 KB>"


def _parse_iso(text: str) -> datetime:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _out_of_time(deadline: Deadline) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def job_view(job: ImportJob) -> dict[str, Any]:
    """The job as the admin API shows it."""
    return {
        "import_id": job.import_id,
        "kind": job.kind,
        "format": job.fmt + (".gz" if job.compressed else ""),
        "key": job.key,
        "segment_id": job.segment_id,
        "bytes": job.size,
        "status": job.status
        if job.finished_at or job.status == "failed"
        else ("counting" if job.chunks > 1 and job.counted < job.chunks else "running"),
        "error": job.error,
        "chunks": {"total": job.chunks, "counted": job.counted, "done": job.chunks_done},
        "progress": round(job.chunks_done / job.chunks, 4) if job.chunks else 1.0,
        "rows_accepted": job.rows_accepted,
        "rows_rejected": job.rows_rejected,
        "events_stored": job.messages,
        "notices": job.notices,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


def rejected_view(row: RejectedRow) -> dict[str, Any]:
    return {"line": row.line, "part": row.part, **row.reason, "raw": row.raw}


def encode_task(task: ImportTask) -> str:
    import json

    defaults = {"step": 0, "skip": 0, "lines_before": 0, "in_quotes": False, "at_record_start": True}
    body = {k: v for k, v in asdict(task).items() if k not in defaults or defaults[k] != v}
    return json.dumps(body, separators=(",", ":"))


def decode_task(text: str) -> ImportTask:
    """A queue message back into its task; ValueError when it is not one (the queue's DLQ keeps it)."""
    import json

    try:
        body = json.loads(text)
        task = ImportTask(**body)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not an import task: {text[:200]!r}") from exc
    numbers = (task.chunk, task.start, task.end, task.step, task.skip, task.lines_before)
    if (
        not isinstance(task.import_id, str)
        or not IMPORT_ID.match(task.import_id)
        or task.phase not in ("count", "rows")
        or any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in numbers)
    ):
        raise ValueError(f"not an import task: {text[:200]!r}")
    return task
