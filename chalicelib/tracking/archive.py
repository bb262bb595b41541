"""The event archive: every accepted event, as gzip JSON lines in S3 partitioned by event day (`events/dt=YYYY-MM-DD/`),
for Athena in AWS and DuckDB locally, and for keeping history longer than the events table's TTL.

Written by the events-stream fold handler, one object per day the batch touches (a batch is at most 500 records:
one PUT per batch and day, no Firehose). The object key is the batch's first and last sequence numbers, so a replayed
batch overwrites its own objects instead of adding duplicates. Each line keeps the event key (`key`) too: a batch
that Lambda splits on a retry gets new first/last numbers, and readers deduplicate on `key` (see local/archive_query).

Erasure (`erase`) rewrites only the day partitions a person has archived events in, so nothing is scanned: the fold
marks the days of the events it folds in the profile it writes anyway, the privacy wing passes them in (`days`), and
the writer records in an index beside the objects (the port's `remember`) only the `(profile, day)` pairs no profile
written in the same batch holds (`covered`: a redirected, deferred or parked event's, or one the fold did not write).
Compaction of a day's small objects and the refill of a failed write live in `archive_maintenance.py` (with the
erasure ordering).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from chalicelib.tracking import event_codec
from chalicelib.tracking.events import is_group, iso, new_events_image
from chalicelib.tracking.ports import EventArchive

PREFIX = "events/"


def partition(day: str) -> str:
    """`events/dt=YYYY-MM-DD/`: Hive-style, which Athena's partition projection and DuckDB's hive_partitioning read."""
    return f"{PREFIX}dt={day}/"


def object_key(day: str, first_sequence: str, last_sequence: str) -> str:
    # Sequence numbers are decimal strings of up to 40 digits; zero-padding keeps the keys of one day in stream order.
    return f"{partition(day)}{first_sequence.zfill(40)}-{last_sequence.zfill(40)}.json.gz"


def archive_line(image: dict[str, Any]) -> dict[str, Any] | None:
    """One archived line from the stream NewImage (attribute-value form) of one event's item, or None for an item
    that is not an event (`archive_lines` takes group items too)."""
    try:
        body = event_codec.body_text(image)
        line = {
            "key": image["pk"]["S"],
            "profile_id": image["profile_id"]["S"],
            "type": image["type"]["S"],
            "event": image.get("event", {}).get("S"),
            "ts": iso(_HEAD.decode(body).timestamp),  # the item's `ts_key` holds only its hour
            # The stored JSON, expanded from its deflated item form: Athena's json_extract and DuckDB read it.
            "body": body.decode(),
        }
    except (KeyError, TypeError, ValueError, zlib.error, msgspec.DecodeError):
        return None
    return line if len(line["ts"]) >= 10 else None


class _Head(msgspec.Struct):
    """What an archived line repeats of an event's body (msgspec decodes only these fields)."""

    source_id: str
    message_id: str
    type: str
    timestamp: datetime
    event: str | None = None


_HEAD = msgspec.json.Decoder(_Head)


def archive_lines(image: dict[str, Any]) -> list[dict[str, Any]]:
    """The archived lines of an item's stream NewImage: one per event (a group item holds several), each keyed by
    its event key; [] for an item that is not an event."""
    if not is_group(image):
        line = archive_line(image)
        return [line] if line is not None else []
    try:
        profile_id = image["profile_id"]["S"]
        lines = []
        for body in event_codec.bodies(image):
            head = _HEAD.decode(body)
            lines.append(
                {
                    "key": f"{head.source_id}#{head.message_id}",
                    "profile_id": profile_id,
                    "type": head.type,
                    "event": head.event,
                    "ts": iso(head.timestamp),
                    "body": body.decode(),
                }
            )
    except (KeyError, TypeError, ValueError, zlib.error, msgspec.DecodeError):
        return []
    return lines


def day_of(line: dict[str, Any]) -> str:
    return str(line["ts"])[:10]


def encode(lines: Iterable[dict[str, Any]]) -> bytes:
    text = "".join(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n" for line in lines)
    # mtime=0: the same lines give the same bytes, so a replayed batch writes an identical object.
    return gzip.compress(text.encode(), compresslevel=6, mtime=0)


def decode(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines() if line.strip()]


@dataclass
class ArchivedBatch:
    objects: int
    events: int


def group_batch(
    records: list[dict[str, Any]], skip: Collection[str] = ()
) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Day -> (object key, lines) for the INSERT records of one stream batch (a MODIFY is a rewritten event, an INSERT
    marked `moved_from` one re-pointed by a merge, both already archived; a REMOVE is TTL, erasure or the old key of a
    moved item). `skip`: event keys not to archive (an erased person's)."""
    inserts = [r for r in records if new_events_image(r) is not None]
    sequences = [str(r.get("dynamodb", {}).get("SequenceNumber", "")) for r in records]
    sequences = [s for s in sequences if s]
    if not inserts or not sequences:
        return {}
    first, last = min(sequences, key=_seq), max(sequences, key=_seq)
    by_day: dict[str, list[dict[str, Any]]] = {}
    for record in inserts:
        for line in archive_lines(record.get("dynamodb", {}).get("NewImage") or {}):
            if line["key"] not in skip:
                by_day.setdefault(day_of(line), []).append(line)
    return {day: (object_key(day, first, last), lines) for day, lines in by_day.items()}


def _json_or_text(body: Any) -> Any:
    """The stored event body as JSON for the export (it is kept as the stored JSON text)."""
    try:
        return json.loads(body) if isinstance(body, str) else body
    except ValueError:
        return body


def _seq(sequence: str) -> tuple[int, str]:
    return (len(sequence), sequence)  # numeric order of decimal strings without int() on 40 digits


class ArchiveService:
    def __init__(self, archive: EventArchive) -> None:
        self.archive = archive

    def archive_batch(
        self,
        records: list[dict[str, Any]],
        skip: Collection[str] = (),
        covered: Collection[tuple[str, str]] = (),
    ) -> ArchivedBatch:
        """`covered`: (profile id, day) pairs whose profile the fold wrote with that day marked (erasure reads the day
        from it), so they need no entry in the per-person day index; every other pair is remembered."""
        groups = group_batch(records, skip)
        people: set[tuple[str, str]] = set()
        events = 0
        for day, (key, lines) in groups.items():
            self.archive.put(key, encode(lines))
            people.update((line["profile_id"], day) for line in lines)
            events += len(lines)
        people.difference_update(covered)
        if people:
            self.archive.remember(sorted(people))
        if groups:
            self.archive.written([(day, key) for day, (key, _) in groups.items()])  # for the compaction
        return ArchivedBatch(len(groups), events)

    def erase(self, profile_ids: list[str], days: Collection[str] = ()) -> int:
        """Rewrite the person's day partitions without their events; returns how many archived events were removed.
        `days`: the days their profiles hold (`archived_days`), besides those of the per-person day index."""
        ids = set(profile_ids)
        removed = 0
        days = sorted(set(days) | self.archive.days(profile_ids))
        # Noted before any listing and again when done: a compaction of one of these days meanwhile re-reads its
        # inputs after it (archive_maintenance.py has the ordering). The note names no one.
        erasure_id = self.archive.erasure_started(days) if days else ""
        for day in days:
            for key in self.archive.keys(partition(day)):
                body = self.archive.find(key)
                if body is None:
                    continue  # merged away by a compaction since the listing: its merged object is listed too
                lines = decode(body)
                kept = [line for line in lines if line.get("profile_id") not in ids]
                if len(kept) == len(lines):
                    continue
                removed += len(lines) - len(kept)
                if kept:
                    self.archive.put(key, encode(kept))
                else:
                    self.archive.delete(key)
        if days:
            self.archive.erasure_finished(days, erasure_id)
        self.archive.forget(profile_ids)
        return removed

    def export(self, profile_ids: list[str], days: Collection[str] = ()) -> list[dict[str, Any]]:
        """The person's archived events, oldest first: the days come from their profiles (`days`) and the per-person
        day list (no listing of the bucket), the events from those days' objects. Older than the events table's TTL,
        the archive is the only copy, so the access export reads it. A line present in two objects (a stream batch
        Lambda split on a retry, or a compacted day read while its small objects are still there) is exported once,
        by its event key."""
        ids = set(profile_ids)
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        for day in sorted(set(days) | self.archive.days(profile_ids)):
            for key in self.archive.keys(partition(day)):
                body = self.archive.find(key)
                for line in decode(body) if body is not None else []:
                    if line.get("profile_id") not in ids or line.get("key") in seen:
                        continue
                    seen.add(str(line.get("key")))
                    out.append({**line, "day": day, "body": _json_or_text(line.get("body"))})
        return sorted(out, key=lambda line: (str(line.get("ts")), str(line.get("key"))))
