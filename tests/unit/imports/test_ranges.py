"""Byte ranges: every record is read exactly once, by the chunk it starts in, whatever the chunk and piece sizes."""

from __future__ import annotations

import pytest

from chalicelib.imports.ranges import (
    MAX_ROW_BYTES,
    ChunkStart,
    count_range,
    plan_ranges,
    records,
    starts_from_counts,
)

CSV = b'\xef\xbb\xbfid,name\r\n1,"a\nb"\r\n2,x\n3,"q""\n"\n4,y'
EXPECTED = [(1, b"\xef\xbb\xbfid,name"), (2, b'1,"a\nb"'), (4, b"2,x"), (5, b'3,"q""\n"'), (7, b"4,y")]


def read_all(data: bytes, chunk_bytes: int, piece: int, *, csv_quotes: bool) -> list[tuple[int, bytes]]:
    ranges = plan_ranges(len(data), chunk_bytes)
    starts = starts_from_counts(ranges, [count_range(data[s:e]) for s, e in ranges], csv_quotes=csv_quotes)
    out = []
    for start in starts:
        pieces = (data[i : i + piece] for i in range(start.start, len(data), piece))
        out += [(r.line, r.data) for r in records(pieces, start, csv_quotes=csv_quotes)]
    return out


@pytest.mark.parametrize("piece", [1, 2, 5, 1000])
def test_csv_records_with_quoted_newlines_are_read_once_at_any_chunk_boundary(piece: int) -> None:
    for chunk_bytes in range(1, len(CSV) + 2):
        assert read_all(CSV, chunk_bytes, piece, csv_quotes=True) == EXPECTED, chunk_bytes


def test_json_lines_split_at_every_newline_and_number_their_lines() -> None:
    data = b'{"a": "x\\ny"}\n{"b": 1}\n\n{"c": 2}'
    for chunk_bytes in range(1, len(data) + 2):
        assert read_all(data, chunk_bytes, 3, csv_quotes=False) == [
            (1, b'{"a": "x\\ny"}'),
            (2, b'{"b": 1}'),
            (3, b""),
            (4, b'{"c": 2}'),
        ]


def test_a_record_longer_than_the_limit_is_flagged_and_the_next_one_still_read() -> None:
    data = b"a\n" + b"x" * (MAX_ROW_BYTES + 10) + b"\nb\n"
    found = list(
        records([data[i : i + 4096] for i in range(0, len(data), 4096)], ChunkStart(0, 0, len(data)), csv_quotes=False)
    )
    assert [(r.line, r.data, r.too_long) for r in found] == [(1, b"a", False), (2, b"", True), (3, b"b", False)]


def test_plan_covers_the_file_without_gaps_and_caps_the_number_of_chunks() -> None:
    ranges = plan_ranges(10_000_001, 1_000_000)
    assert ranges[0][0] == 0 and ranges[-1][1] == 10_000_001
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert len(plan_ranges(10**12, 1)) <= 10_000
    assert plan_ranges(0) == [(0, 0)]
