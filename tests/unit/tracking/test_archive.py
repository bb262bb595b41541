"""The event archive's pure part: object keys, day partitions, the lines of a stream batch, gzip round trip."""

from __future__ import annotations

import json

from chalicelib.tracking import archive


def _record(seq: str, ts: str, profile: str, name: str = "INSERT", key: str | None = None) -> dict:
    pk = key or f"web#{seq}"
    body = {"source_id": "web", "message_id": pk[4:], "type": "track", "event": "Product Viewed", "timestamp": ts}
    image = {
        "pk": {"S": pk},
        "profile_id": {"S": profile},
        "ts_key": {"S": f"{ts[:13]}#{pk}"},
        "type": {"S": "track"},
        "event": {"S": "Product Viewed"},
        "body": {"S": json.dumps(body)},
    }
    return {"eventName": name, "dynamodb": {"SequenceNumber": seq, "NewImage": image}}


def test_object_keys_are_hive_day_partitions_named_by_the_batch_sequence_range() -> None:
    key = archive.object_key("2026-12-05", "900", "1100")
    assert key == f"events/dt=2026-12-05/{'900'.zfill(40)}-{'1100'.zfill(40)}.json.gz"
    # zero-padded: later batches sort after earlier ones within a day
    assert archive.object_key("2026-12-05", "1000", "1001") > archive.object_key("2026-12-05", "999", "999")


def test_a_batch_is_split_by_event_day_and_keyed_by_its_numeric_first_and_last_sequence() -> None:
    records = [
        _record("1000", "2026-12-04T23:59:59.000Z", "p1"),
        _record("999", "2026-12-05T00:00:01.000Z", "p2"),
        _record("1001", "2026-12-05T08:00:00.000Z", "p1", name="MODIFY"),  # a re-pointed event: archived already
    ]
    groups = archive.group_batch(records)
    assert set(groups) == {"2026-12-04", "2026-12-05"}
    key, lines = groups["2026-12-05"]
    assert key == archive.object_key("2026-12-05", "999", "1001")  # 999 < 1000 numerically, not as text
    assert [line["profile_id"] for line in lines] == ["p2"]
    assert lines[0]["ts"] == "2026-12-05T00:00:01.000Z" and json.loads(lines[0]["body"])["event"] == "Product Viewed"


def test_lines_round_trip_and_the_same_batch_gives_the_same_bytes() -> None:
    lines = [{"key": "a", "profile_id": "p", "ts": "2026-12-05T00:00:00Z", "body": '{"é": 1}'}]
    assert archive.decode(archive.encode(lines)) == lines
    assert archive.encode(lines) == archive.encode(lines)  # no gzip mtime: a replay rewrites identical objects


def test_items_that_are_not_events_and_empty_batches_write_nothing() -> None:
    assert archive.group_batch([]) == {}
    assert archive.group_batch([{"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1", "NewImage": {}}}]) == {}
    assert archive.group_batch([_record("5", "2026-12-05T00:00:00Z", "p", name="REMOVE")]) == {}


def test_events_the_fold_dropped_for_an_erased_person_are_not_archived() -> None:
    records = [_record("1", "2026-12-05T00:00:00Z", "p1", key="web#a"), _record("2", "2026-12-05T00:00:01Z", "p2")]
    [(_, lines)] = archive.group_batch(records, skip={"web#a"}).values()
    assert [line["profile_id"] for line in lines] == ["p2"]


class _RecordingArchive:
    """The archive port's writes, kept: objects put and the (profile, day) pairs sent to the day index."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.remembered: list[tuple[str, str]] = []

    def put(self, key: str, body: bytes) -> None:
        self.objects[key] = body

    def remember(self, profile_days: list[tuple[str, str]]) -> None:
        self.remembered.extend(profile_days)

    def written(self, day_tokens: list[tuple[str, str]]) -> None:
        pass


def test_only_the_pairs_no_written_profile_covers_go_to_the_day_index() -> None:
    records = [
        _record("1", "2026-12-04T23:59:59.000Z", "p1"),
        _record("2", "2026-12-05T00:00:01.000Z", "p1"),
        _record("3", "2026-12-05T08:00:00.000Z", "p2"),  # a redirected (or parked) line: its pair is not covered
    ]
    recording = _RecordingArchive()
    service = archive.ArchiveService(recording)  # type: ignore[arg-type]
    done = service.archive_batch(records, covered={("p1", "2026-12-04"), ("p1", "2026-12-05"), ("p9", "2026-12-05")})
    assert (done.events, len(recording.objects)) == (3, 2)
    assert recording.remembered == [("p2", "2026-12-05")]

    # without `covered` (the refill's path, or a batch the fold wrote nothing for) every pair is remembered
    everything = _RecordingArchive()
    archive.ArchiveService(everything).archive_batch(records)  # type: ignore[arg-type]
    assert everything.remembered == [("p1", "2026-12-04"), ("p1", "2026-12-05"), ("p2", "2026-12-05")]
