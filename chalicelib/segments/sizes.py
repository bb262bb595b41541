"""Segment sizes from the members table's own stream: what a batch of its records adds (pure) and the use case that
counts each record once.

Why counted from the stream and not beside each membership write: the item is the truth and its stream records say,
once each, when it appeared (INSERT) or went (REMOVE), whoever wrote it (the profiles-stream consumer, an erasure, a
replayed shard re-creating and deleting an item). Counting those keeps `size == number of items` without a
transaction per membership change (transactions bill twice), and an erasure's deletes count like any other exit.

Exactly once per stream record, as the daily counters (`engagement/daily.py`): the whole batch is counted in ONE
transaction, a conditional marker `segsizebatch#<first sequence>` (holding the last counted sequence) plus one ADD
per segment. A re-delivered batch starting at the same record counts nothing; a longer one counts only the records
past the recorded last sequence, under their own marker. A batch touching more segments than one transaction holds
is written in runs, each under the marker of its own first record. A failure asks for the whole batch again, so a
retry always starts at a batch's first record (its event source does not bisect either: local/package.py
NO_BISECT_FUNCTIONS), and the runs already written are found by their markers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.shared.faults import is_transient
from chalicelib.shared.streams import sequence_of, sequence_order

if TYPE_CHECKING:
    from chalicelib.segments.ports import SegmentSizeCounter
    from chalicelib.shared.clock import Clock

log = logging.getLogger("one2one")

MAX_SEGMENTS_PER_WRITE = 99  # TransactWriteItems holds 100 items: the batch marker and 99 counters
# The customer population rows share the table (`segments.adapters.dynamodb_segments.POPULATION_PREFIX`); configured
# segment ids cannot start with `$`, so every `$` row is a system row, not a member.
SYSTEM_PREFIX = "$"


@dataclass
class SizeDeltas:
    """What one batch adds to each segment's size, under the marker of its first counted record."""

    first_sequence: str | None = None
    last_sequence: str | None = None
    deltas: dict[str, int] = field(default_factory=dict)

    def add(self, segment_id: str, n: int) -> None:
        self.deltas[segment_id] = self.deltas.get(segment_id, 0) + n

    @property
    def changes(self) -> dict[str, int]:
        """The delta of every segment a counted record touched, in segment order. A 0 (the segment's records cancel
        out) is still written: a segment emptied within one batch then shows 0, like one emptied over two."""
        return dict(sorted(self.deltas.items()))

    @property
    def empty(self) -> bool:
        """Nothing to write: no record touched a segment (population rows, MODIFYs). Safe to write no marker either:
        counting those records again on a re-delivery adds nothing."""
        return not self.deltas


def _segment_of(record: Mapping[str, Any]) -> str | None:
    keys = (record.get("dynamodb") or {}).get("Keys") or {}
    segment_id = (keys.get("segment_id") or {}).get("S")
    return segment_id if isinstance(segment_id, str) and not segment_id.startswith(SYSTEM_PREFIX) else None


def size_deltas(
    records: Sequence[Mapping[str, Any]], *, after: str | None = None, max_segments: int | None = None
) -> SizeDeltas:
    """+1 per INSERT and -1 per REMOVE of a member item in `records` (those with a sequence number above `after` when
    given: the part of a re-delivered batch not yet counted). MODIFYs (a member item rewritten) and population rows
    change no size. With `max_segments`, stops before the record that would touch one segment more (one transaction
    holds a bounded number of counters): the caller counts the rest as the next run, `after` this one's last.

    Example:
        >>> r = [{"eventName": "INSERT", "dynamodb": {"SequenceNumber": "7", "Keys": {"segment_id": {"S": "vip"}}}}]
        >>> size_deltas(r).changes, size_deltas(r, after="7").empty
        ({'vip': 1}, True)
    """
    out = SizeDeltas()
    for record in records:
        sequence = sequence_of(record)
        if after is not None and sequence_order(sequence) <= sequence_order(after):
            continue
        segment_id = _segment_of(record)
        kind = record.get("eventName")
        counts = segment_id is not None and kind in ("INSERT", "REMOVE")
        if counts and max_segments is not None and segment_id not in out.deltas and len(out.deltas) >= max_segments:
            break
        out.first_sequence = out.first_sequence or sequence
        out.last_sequence = sequence
        if counts and segment_id is not None:
            out.add(segment_id, 1 if kind == "INSERT" else -1)
    return out


class SegmentSizeService:
    """Members-stream consumer: each record's INSERT or REMOVE moves its segment's size, exactly once."""

    def __init__(self, counter: SegmentSizeCounter, clock: Clock) -> None:
        self.counter = counter
        self.clock = clock

    def count(self, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Count a batch, in runs of at most MAX_SEGMENTS_PER_WRITE segments, each once (see the module doc); return
        the sequence numbers to retry.

        On a storage failure that is every record of the batch: the re-delivery then starts at its first record, and
        the runs already counted are found by their markers (their records are skipped). Any other failure (a bug)
        raises: the function fails and Lambda delivers the same batch again, never skipping a record (a size left
        wrong for good is worse than a shard held up; bounded retries end in the on-failure queue, where it is seen).
        """
        after: str | None = None
        while True:
            run = size_deltas(records, after=after, max_segments=MAX_SEGMENTS_PER_WRITE)
            if run.last_sequence is None:
                return []
            try:
                counted_to = self.counter.add_batch(run, self.clock.now())
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("segment sizes deferred at %s: %s", run.first_sequence, type(exc).__name__)
                return [sequence_of(record) for record in records]
            # A marker found (a re-delivery) covers up to its own last record, which may lie before or past this run's
            # (the first delivery was shorter or longer): the next run starts after it.
            after = run.last_sequence if counted_to is None else counted_to
