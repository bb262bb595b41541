"""Byte ranges of an import file: plan the chunks, and read the records of one chunk from any byte offset (pure).

A file is cut into `CHUNK_BYTES` ranges that parallel workers read with S3 ranged GETs. A range boundary rarely falls
on a record boundary, so the rule is: a chunk owns every record that *starts* inside its range; it skips the partial
record it starts in (its predecessor owns it) and reads past its end to finish its last record.

Where does a record start? In JSON lines at every newline (a JSON string cannot hold a raw newline). In CSV a newline
inside a quoted field is part of the field, and whether a byte is inside quotes depends on every quote before it. RFC
4180 escapes a quote as `""`, so every `"` toggles the state and the state at an offset is the parity of the quotes
before it. A file of more than one chunk therefore gets a parallel counting pass first (`count_range`: quotes and
newlines per chunk, no parsing); prefix sums then give each chunk its quote parity and line number at its start
(`starts_from_counts`), so chunk k finds its first record exactly, and line numbers in the report are the file's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

CHUNK_BYTES = 8 * 1024 * 1024  # ~40k rows of ~200 bytes: a worker finishes one in well under a minute
MAX_ROW_BYTES = 64 * 1024  # a longer record is rejected (its bytes are skipped, never held)
MAX_CHUNKS = 10_000  # 80 GB at 8 MB; beyond that raise CHUNK_BYTES
BOM = b"\xef\xbb\xbf"
QUOTE, NEWLINE = 0x22, 0x0A


@dataclass(frozen=True)
class ChunkStart:
    """What chunk `index` needs to find its first record: lines before its first byte, the quote parity there, and
    whether a record starts exactly at its first byte."""

    index: int
    start: int
    end: int
    lines_before: int = 0
    in_quotes: bool = False
    at_record_start: bool = True


@dataclass(frozen=True)
class RangeCounts:
    newlines: int
    quotes: int
    ends_with_newline: bool


@dataclass(frozen=True)
class Record:
    line: int  # 1-based line of the file where the record starts
    offset: int  # byte offset of its first byte
    data: bytes  # without the line ending; empty with `too_long`
    too_long: bool = False


def plan_ranges(size: int, chunk_bytes: int = CHUNK_BYTES) -> list[tuple[int, int]]:
    """[start, end) byte ranges covering `size` bytes; at least one range (an empty file has one empty range)."""
    if size <= 0:
        return [(0, 0)]
    chunk_bytes = max(chunk_bytes, -(-size // MAX_CHUNKS))
    return [(start, min(size, start + chunk_bytes)) for start in range(0, size, chunk_bytes)]


def count_range(data: bytes) -> RangeCounts:
    """The counting pass over one range's bytes (C-speed `bytes.count`: ~GB/s, the S3 read dominates)."""
    return RangeCounts(data.count(b"\n"), data.count(b'"'), data.endswith(b"\n"))


def starts_from_counts(
    ranges: list[tuple[int, int]], counts: list[RangeCounts], *, csv_quotes: bool
) -> list[ChunkStart]:
    """Each chunk's start state from the counts of the chunks before it."""
    starts, lines, quotes = [], 0, 0
    previous_newline = True
    for index, ((start, end), count) in enumerate(zip(ranges, counts, strict=True)):
        in_quotes = csv_quotes and quotes % 2 == 1
        starts.append(
            ChunkStart(index, start, end, lines, in_quotes, index == 0 or (previous_newline and not in_quotes))
        )
        lines += count.newlines
        quotes += count.quotes
        previous_newline = count.ends_with_newline
    return starts


def records(stream: Iterable[bytes], chunk: ChunkStart, *, csv_quotes: bool) -> Iterator[Record]:
    """The records that start inside `chunk`, read from `stream` (the object's bytes from `chunk.start` on, in any
    pieces). Stops reading once a record starts at or after `chunk.end`. Line endings (`\\n`, `\\r\\n`) are dropped;
    a record longer than MAX_ROW_BYTES comes back empty with `too_long`."""
    offset = chunk.start  # absolute offset of piece[0]
    line = chunk.lines_before + 1
    in_quotes = chunk.in_quotes  # quote state at `position`
    owned = chunk.at_record_start  # False while skipping the tail of the predecessor's record
    current = bytearray()
    too_long = False
    record_offset, record_line = offset, line
    for piece in stream:
        position, size = 0, len(piece)
        while position < size:
            if not current and not too_long and offset + position >= chunk.end:
                return  # the next record starts in the next chunk (or we never found one of ours)
            newline, in_quotes_after = _record_end(piece, position, in_quotes, csv_quotes)
            stop = size if newline < 0 else newline
            if owned and not too_long:
                if len(current) + (stop - position) > MAX_ROW_BYTES:
                    too_long, current = True, bytearray()
                else:
                    current += piece[position:stop]
            if newline < 0:
                line += piece.count(b"\n", position)  # newlines inside a quoted field still count as lines
                in_quotes = in_quotes_after
                position = size
                continue
            line += piece.count(b"\n", position, newline + 1)
            if owned:
                yield _record(record_line, record_offset, current, too_long)
            owned, current, too_long, in_quotes = True, bytearray(), False, False
            position = newline + 1
            record_offset, record_line = offset + position, line
        offset += size
    if owned and (current or too_long):
        yield _record(record_line, record_offset, current, too_long)


def _record_end(piece: bytes, position: int, in_quotes: bool, csv_quotes: bool) -> tuple[int, bool]:
    """(index of the next newline outside quotes from `position`, or -1; the quote state at the end of what was
    scanned). JSON lines: every newline ends a record."""
    if not csv_quotes:
        return piece.find(b"\n", position), False
    scan = position
    while True:
        newline = piece.find(b"\n", scan)
        if newline < 0:
            return -1, (in_quotes + piece.count(b'"', scan)) % 2 == 1
        in_quotes = (in_quotes + piece.count(b'"', scan, newline)) % 2 == 1
        if not in_quotes:
            return newline, False
        scan = newline + 1  # a newline inside a quoted field belongs to the record


def _record(line: int, offset: int, data: bytearray, too_long: bool) -> Record:
    raw = bytes(data)
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return Record(line, offset, b"" if too_long else raw, too_long)
