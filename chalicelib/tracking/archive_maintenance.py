"""Keeping the event archive cheap and whole: compaction of a day's small per-batch objects into one, and the refill
of a stream batch whose archive write failed.

Compaction (`compact_due`, a daily schedule). The stream writes one object per batch and day: thousands of small
objects a day, which Athena lists and opens one by one, and which S3 Standard-IA bills at 128 KB each. A day written
since its last compaction is marked (`written`, by the writer, with the key it wrote as token); the job merges every
object of each marked day except today's into `events/dt=<day>/compacted-<n>.json.gz` (each event key once), then
deletes what it merged and clears the mark unless a writer marked the day again meanwhile. Idempotent: a run that
stops half-way leaves the inputs and maybe a compacted object, both read by every reader (they deduplicate on the
event key) and merged again by the next run.

Against a concurrent erasure (privacy), the ordering is (the notes name no one: an erasure id per day):
1. erasure notes each of the person's days as "erasure started" BEFORE it lists and rewrites them, and "finished"
   after;
2. compaction reads the day's notes, THEN lists and reads its inputs, writes the merged object, and reads the notes
   again. An erasure still running: the merged object is deleted and the day left for the next run (the erasure
   deals with the inputs). One that started and finished meanwhile: the inputs are read again and the merged object
   keeps only lines still in them (what the erasure removed goes), written again, notes read again, until nothing
   new. Only then are the inputs deleted.
An erasure that starts after compaction's last reading of the notes lists the day after the merged object exists
and rewrites it; one that finished before compaction's first reading rewrote the inputs before they were read. An
input deleted under an erasure's feet is skipped (`find` returns None).

Refill (`refill`). The fold never retries a batch for the archive (profiles matter more); a failed write is recorded
with the batch's event keys and sequence range (`record_failed`). `POST /admin/archive/refills` (or the compaction
schedule) re-reads those events from the events table, while their TTL keeps them, and writes the batch's objects
under the same keys a successful write would have used.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.tracking.archive import archive_lines, day_of, decode, encode, object_key, partition
from chalicelib.tracking.events import item_ref, new_events_image
from chalicelib.tracking.ports import EventArchive

log = logging.getLogger("one2one")

COMPACTED = re.compile(r"/compacted-(\d+)\.json\.gz$")
MAX_NOTE_ROUNDS = 5


@dataclass
class CompactionReport:
    days: int = 0
    objects_merged: int = 0
    events: int = 0
    erased_in_flight: int = 0
    skipped_days: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "objects_merged": self.objects_merged,
            "events": self.events,
            "erased_in_flight": self.erased_in_flight,
        }


def compacted_key(day: str, generation: int) -> str:
    return f"{partition(day)}compacted-{generation:06d}.json.gz"


def _generation(key: str) -> int | None:
    match = COMPACTED.search(key)
    return int(match.group(1)) if match else None


def failed_batch(records: list[dict[str, Any]], skip: frozenset[str] | set[str] = frozenset()) -> dict[str, Any] | None:
    """What a refill needs of a batch whose archive write failed: its sequence range and the keys of the items its new
    events are in (an event's own item or its group's: the refill reads them back from the events table)."""
    sequences = sorted(
        (str(r.get("dynamodb", {}).get("SequenceNumber", "")) for r in records),
        key=lambda s: (len(s), s),
    )
    sequences = [s for s in sequences if s]
    images = [image for image in map(new_events_image, records) if image is not None]
    keys = [item_ref(image) for image in images if any(line["key"] not in skip for line in archive_lines(image))]
    if not sequences or not keys:
        return None
    return {"first": sequences[0], "last": sequences[-1], "keys": keys}


class ArchiveMaintenance:
    def __init__(self, archive: EventArchive) -> None:
        self.archive = archive

    # -- compaction ------------------------------------------------------------------------------------------------
    def compact_due(self, now: datetime, deadline: float | None = None) -> CompactionReport:
        """Compact every day marked as written, except today (still being written), oldest first, starting no day
        after `deadline` (time.monotonic()); the rest stay marked for the next run."""
        today = now.strftime("%Y-%m-%d")
        report = CompactionReport()
        for day, token in sorted(self.archive.dirty_days().items()):
            if day >= today:
                continue
            if deadline is not None and time.monotonic() >= deadline:
                break
            self.compact_day(day, report)
            if day not in report.skipped_days:
                self.archive.clean(day, token)
        return report

    def compact_day(self, day: str, report: CompactionReport | None = None) -> str | None:
        """Merge the day's objects into one; returns the merged object's key (None when there was nothing to do or
        an erasure of that day is running)."""
        report = report or CompactionReport()
        known = self.archive.erasures(day)
        keys = self.archive.keys(partition(day))
        if len(keys) < 2:
            return None
        generation = max((g for k in keys if (g := _generation(k)) is not None), default=0) + 1
        lines = self._read(keys)
        target = compacted_key(day, generation)
        self.archive.put(target, encode(lines))
        for _ in range(MAX_NOTE_ROUNDS):
            notes = self.archive.erasures(day)
            if not all(notes.values()):
                self.archive.delete(target)  # an erasure is running: it deals with the inputs; try again tomorrow
                report.skipped_days.append(day)
                return None
            if notes.keys() <= known.keys():
                break
            known = notes
            still = {str(line.get("key")) for line in self._read(keys)}
            kept = [line for line in lines if line.get("key") in still]
            report.erased_in_flight += len(lines) - len(kept)
            lines = kept
            self.archive.put(target, encode(lines))
        else:
            self.archive.delete(target)
            report.skipped_days.append(day)
            return None
        for key in keys:
            self.archive.delete(key)
        report.days += 1
        report.objects_merged += len(keys)
        report.events += len(lines)
        return target

    def _read(self, keys: list[str]) -> list[dict[str, Any]]:
        """The lines of these objects, each event key once (an object gone since the listing is skipped)."""
        seen: set[str] = set()
        lines: list[dict[str, Any]] = []
        for key in keys:
            body = self.archive.find(key)
            for line in decode(body) if body is not None else []:
                if line.get("key") not in seen:
                    seen.add(str(line.get("key")))
                    lines.append(line)
        return lines

    # -- refill ------------------------------------------------------------------------------------------------------
    def record_failed(self, records: list[dict[str, Any]], skip: frozenset[str] | set[str] = frozenset()) -> bool:
        batch = failed_batch(records, skip)
        if batch is None:
            return False
        self.archive.save_failed(batch["first"], batch["last"], batch["keys"])
        return True

    def refill(self) -> dict[str, int]:
        """Re-write every recorded failed batch from the events table; returns counts. Events gone from the table
        (TTL, erasure) cannot be refilled: counted as `missing`."""
        batches = events = missing = 0
        for first, last, keys in self.archive.failed():
            images = self.archive.source_images(keys)
            lines = [line for image in images for line in archive_lines(image)]
            missing += len(keys) - len(images)  # items (an event's or a group's) gone from the table
            by_day: dict[str, list[dict[str, Any]]] = {}
            for line in lines:
                by_day.setdefault(day_of(line), []).append(line)
            for day, day_lines in by_day.items():
                self.archive.put(object_key(day, first, last), encode(day_lines))
            if by_day:
                self.archive.remember(sorted({(line["profile_id"], day_of(line)) for line in lines}))
                self.archive.written([(day, object_key(day, first, last)) for day in by_day])
            self.archive.refilled(first, last)
            batches += 1
            events += len(lines)
        return {"batches": batches, "events": events, "missing": missing}
