"""The event archive: every accepted event lands once in S3 (gzip JSON lines by day), a replayed stream batch adds no
duplicate, and erasure rewrites the person's day partitions without their events."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Harness
from tests.integration.test_privacy import delete, known_customer, send


def _archive() -> dict[str, list[dict[str, Any]]]:
    """Every archive object's lines, by key."""
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import resource_name
    from chalicelib.tracking.archive import decode

    s3, bucket = client("s3"), resource_name("ArchiveBucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: decode(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in keys}


def _raw_archive() -> bytes:
    """All archive objects inflated, as one text: what a search for a raw id would read."""
    import gzip

    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import resource_name

    s3, bucket = client("s3"), resource_name("ArchiveBucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return b"".join(gzip.decompress(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys)


def _record_fold_batches(harness: Harness) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    handler = harness.app.handler_map["fold_events"]

    def recording(event: dict[str, Any], context: Any) -> Any:
        seen.append(event)
        return handler(event, context)

    harness.app.handler_map["fold_events"] = recording
    return seen


def test_tracked_events_land_in_day_partitions_once_even_when_a_batch_is_replayed(harness: Harness) -> None:
    batches = _record_fold_batches(harness)
    ts = "2026-11-30T10:00:00.000Z"
    send(harness, "/v1/track", {"userId": "arch-1", "event": "Product Viewed", "messageId": "m1", "timestamp": ts})
    send(harness, "/v1/track", {"userId": "arch-1", "event": "Order Completed", "messageId": "m2"})
    send(harness, "/v1/page", {"anonymousId": "arch-anon", "name": "Home", "messageId": "m3"})
    harness.pump.drain()

    objects = _archive()
    lines = [line for body in objects.values() for line in body]
    assert sorted(line["key"] for line in lines) == ["web#m1", "web#m2", "web#m3"]
    assert all(key.startswith("events/dt=") and key.endswith(".json.gz") for key in objects)
    days = {key.split("/")[1] for key, body in objects.items() if any(line["key"] == "web#m1" for line in body)}
    assert days == {"dt=2026-11-30"}  # partitioned by the event's own day, not the arrival day
    assert {line["event"] for line in lines} >= {"Product Viewed", "Order Completed"}

    # WHEN Lambda delivers the same batch again (a retry after a timeout): the same keys are overwritten
    assert batches
    for event in list(batches):  # a copy: the recording handler appends what it is given
        harness.app.handler_map["fold_events"](event, harness.pump.lambda_context("fold_events"))
    again = _archive()
    assert set(again) == set(objects)
    assert sorted(line["key"] for body in again.values() for line in body) == ["web#m1", "web#m2", "web#m3"]


def test_erasure_removes_the_persons_events_from_the_archive_and_keeps_everyone_elses(harness: Harness) -> None:
    send(harness, "/v1/track", {"userId": "bystander", "event": "Product Viewed", "messageId": "keep-1"})
    profile_id = known_customer(harness)
    old = "2026-10-01T09:00:00.000Z"  # a second day partition of theirs
    send(harness, "/v1/track", {"userId": "priv-user", "event": "Product Viewed", "timestamp": old})
    harness.pump.drain()
    before = _raw_archive()
    assert b"priv-user" in before and b"priv-anon" in before and b"p@example.com" in before

    response = delete(harness, f"/admin/profiles/{profile_id}")
    assert response.status_code == 200
    assert harness.json(response)["deleted"]["archived_events"] >= 4
    harness.pump.drain()

    after = _raw_archive()
    for raw_id in (b"priv-user", b"priv-anon", b"p@example.com", profile_id.encode()):
        assert raw_id not in after, raw_id
    assert b"keep-1" in after  # the bystander's event, in the same day partition, is still there
    # and the per-person day index is gone too
    from chalicelib.bootstrap import get_archive_service

    assert get_archive_service().archive.days([profile_id]) == set()


def test_the_local_query_helper_counts_events_per_day_and_summarises_customers(harness: Harness, tmp_path) -> None:
    from datetime import UTC, datetime

    from local.archive_query import customers, download, events_per_day

    def order(msg: str, ts: str, revenue: float) -> None:
        body = {"userId": "q-buyer", "event": "Order Completed", "messageId": msg, "timestamp": ts}
        send(harness, "/v1/track", {**body, "properties": {"order_id": msg, "revenue": revenue}})

    order("o1", "2026-11-01T10:00:00.000Z", 10)
    order("o2", "2026-11-11T10:00:00.000Z", 30)
    order("o3", "2026-11-21T10:00:00.000Z", 50)
    send(harness, "/v1/page", {"anonymousId": "q-anon", "name": "Home", "timestamp": "2026-11-11T12:00:00.000Z"})
    harness.pump.drain()

    assert download(tmp_path) >= 3
    assert events_per_day(tmp_path) == [("2026-11-01", 1), ("2026-11-11", 2), ("2026-11-21", 1)]
    assert events_per_day(tmp_path, "page") == [("2026-11-11", 1)]
    [(customer_id, frequency, recency, age, monetary)] = customers(tmp_path, datetime(2026, 12, 1, 10, tzinfo=UTC))
    assert (frequency, recency, age, monetary) == (2, 20.0, 30.0, 40.0)  # repeat orders 30 and 50
    assert customer_id  # the profile id


def test_the_access_export_includes_the_persons_archived_events_and_nobody_elses(harness: Harness) -> None:
    send(harness, "/v1/track", {"userId": "bystander", "event": "Product Viewed", "messageId": "other-1"})
    profile_id = known_customer(harness)
    old = "2026-10-01T09:00:00.000Z"
    send(
        harness, "/v1/track", {"userId": "priv-user", "event": "Wishlist Added", "messageId": "old-1", "timestamp": old}
    )
    harness.pump.drain()

    response = harness.admin(f"/admin/profiles/{profile_id}/export")
    assert response.status_code == 200, response.body
    archived = harness.json(response)["archived_events"]

    keys = [event["key"] for event in archived]
    assert "web#old-1" in keys and "web#other-1" not in keys
    assert len(keys) == len(set(keys)) >= 2
    [old_event] = [event for event in archived if event["key"] == "web#old-1"]
    assert (old_event["day"], old_event["event"], old_event["profile_id"]) == (
        "2026-10-01",
        "Wishlist Added",
        profile_id,
    )
    assert isinstance(old_event["body"], dict) and old_event["body"]["event"] == "Wishlist Added"
    assert [event["ts"] for event in archived] == sorted(event["ts"] for event in archived)


def test_the_s3_customer_summary_agrees_with_the_duckdb_query_on_the_same_archive(harness: Harness, tmp_path) -> None:
    from datetime import UTC, datetime

    from chalicelib.predictions.adapters.s3_archive_summary import S3ArchiveCustomerSource
    from chalicelib.shared.settings import resource_name
    from local.archive_query import customers, download

    # GIVEN buyers with one, two and three orders (revenue, total, no value), an unverified claim and a page view
    def order(user: str, msg: str, ts: str, **properties: object) -> None:
        body = {"userId": user, "event": "Order Completed", "messageId": msg, "timestamp": ts}
        send(harness, "/v1/track", {**body, "properties": {"order_id": msg, **properties}})

    order("s-one", "s1", "2026-09-01T10:00:00.000Z", revenue=12.5)
    order("s-two", "s2", "2026-09-03T08:00:00.000Z", total=40)
    order("s-two", "s3", "2026-10-13T20:30:00.000Z", total="19.99")
    order("s-three", "s4", "2026-08-01T00:00:00.000Z", revenue=5)
    order("s-three", "s5", "2026-09-15T12:00:00.000Z")
    order("s-three", "s6", "2026-11-20T06:00:00.000Z", revenue=70, total=1)
    send(harness, "/v1/page", {"anonymousId": "s-anon", "name": "Home", "timestamp": "2026-11-11T12:00:00.000Z"})
    harness.pump.drain()
    # and a stream batch archived twice under another key (Lambda split it on a retry): its order counts once
    from chalicelib.shared.aws import client

    s3, bucket = client("s3"), resource_name("ArchiveBucket")
    [first_key, *_] = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="events/dt=2026-10-13/")["Contents"]]
    copy = first_key.replace(".json.gz", "-copy.json.gz")
    s3.copy_object(Bucket=bucket, Key=copy, CopySource={"Bucket": bucket, "Key": first_key})

    end = datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert download(tmp_path) >= 7
    duckdb_rows = customers(tmp_path, end)
    s3_rows = [
        (s.customer_id, s.frequency, s.recency, s.T, s.monetary_value)
        for s in S3ArchiveCustomerSource(bucket).summaries(end)
    ]

    assert s3_rows == [tuple(row) for row in duckdb_rows]
    by_frequency = sorted((f, r, m) for _, f, r, _, m in s3_rows)
    assert by_frequency == [(0, 0.0, 0.0), (1, 40.5208, 19.99), (2, 111.25, 35.0)]


def _day_objects(day: str) -> dict[str, list[dict[str, Any]]]:
    return {key: lines for key, lines in _archive().items() if key.startswith(f"events/dt={day}/")}


def _track_on(harness: Harness, day: str, count: int, user: str = "c-user", prefix: str = "c") -> None:
    """`count` events of `user` on `day`, each drained alone: one stream batch, one archive object each."""
    for n in range(count):
        ts = f"{day}T10:{n:02d}:00.000Z"
        send(
            harness,
            "/v1/track",
            {"userId": user, "event": "Product Viewed", "messageId": f"{prefix}{n}", "timestamp": ts},
        )
        harness.pump.drain()


def test_compaction_merges_a_past_days_batch_objects_into_one_and_a_second_run_changes_nothing(
    harness: Harness,
) -> None:
    from datetime import UTC, datetime

    from chalicelib.bootstrap import get_archive_maintenance

    _track_on(harness, "2026-11-02", 4)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    send(harness, "/v1/track", {"userId": "c-user", "event": "Product Viewed", "messageId": "c-today"})
    harness.pump.drain()
    before = _day_objects("2026-11-02")
    assert len(before) == 4

    report = get_archive_maintenance().compact_due(datetime.now(UTC))

    after = _day_objects("2026-11-02")
    assert list(after) == ["events/dt=2026-11-02/compacted-000001.json.gz"]
    assert sorted(line["key"] for line in after["events/dt=2026-11-02/compacted-000001.json.gz"]) == [
        f"web#c{n}" for n in range(4)
    ]
    assert (report.days, report.objects_merged, report.events) == (1, 4, 4)
    assert _day_objects(today)  # today is still being written: left alone
    # the mark is cleared: a second run merges nothing and rewrites nothing
    again = get_archive_maintenance().compact_due(datetime.now(UTC))
    assert again.days == 0 and _day_objects("2026-11-02") == after
    # a late event marks the day again; the next run merges it with the compacted object
    _track_on(harness, "2026-11-02", 1, prefix="late")
    get_archive_maintenance().compact_due(datetime.now(UTC))
    [(key, lines)] = _day_objects("2026-11-02").items()
    assert key.endswith("compacted-000002.json.gz") and len(lines) == 5


def test_an_erasure_during_a_compaction_leaves_no_event_of_the_person_in_the_merged_object(harness: Harness) -> None:
    from chalicelib.bootstrap import get_archive_service
    from chalicelib.tracking.archive_maintenance import ArchiveMaintenance

    day = "2026-11-03"
    _track_on(harness, day, 2, user="keep-user", prefix="k")
    _track_on(harness, day, 2, user="gone-user", prefix="g")
    profile_id = harness.json(harness.admin("/admin/profiles?user_id=gone-user"))["profile_id"]
    archive = get_archive_service().archive
    erased: list[int] = []

    class ErasedMidway:
        """The real archive, with the person erased after the compaction read the day and before it writes."""

        def __getattr__(self, name: str) -> Any:
            return getattr(archive, name)

        def put(self, key: str, body: bytes) -> None:
            if "compacted-" in key and not erased:
                erased.append(get_archive_service().erase([profile_id], days=[day]))
            archive.put(key, body)

    report = ArchiveMaintenance(ErasedMidway()).compact_day(day)  # type: ignore[arg-type]

    assert erased == [2]  # the erasure rewrote the two small objects it found...
    objects = _day_objects(day)
    assert list(objects) == [report]  # ...the compaction merged what it had read before, then applied the note
    assert sorted(line["key"] for line in objects[report]) == ["web#k0", "web#k1"]


def test_a_batch_whose_archive_write_failed_is_recorded_and_refilled_from_the_events_table(
    harness: Harness, monkeypatch
) -> None:
    from chalicelib.tracking.adapters.s3_archive import S3EventArchive

    # GIVEN the archive's bucket refuses writes while two events are folded
    real_put = S3EventArchive.put

    def refused(self: S3EventArchive, key: str, body: bytes) -> None:
        raise RuntimeError("S3 is down")

    monkeypatch.setattr(S3EventArchive, "put", refused)
    send(harness, "/v1/track", {"userId": "r-user", "event": "Product Viewed", "messageId": "r1"})
    send(harness, "/v1/track", {"userId": "r-user", "event": "Order Completed", "messageId": "r2"})
    harness.pump.drain()
    assert not any(line["key"] in ("web#r1", "web#r2") for body in _archive().values() for line in body)

    # WHEN S3 is back and an operator asks for the refill
    monkeypatch.setattr(S3EventArchive, "put", real_put)
    response = harness.client.http.post("/admin/archive/refills", headers={"Authorization": "Bearer test-admin-token"})

    # THEN the events are archived, once, and nothing is left to refill
    assert response.status_code == 200, response.body
    assert harness.json(response)["events"] == 2 and harness.json(response)["missing"] == 0
    keys = [line["key"] for body in _archive().values() for line in body]
    assert sorted(k for k in keys if k.startswith("web#r")) == ["web#r1", "web#r2"]
    again = harness.client.http.post("/admin/archive/refills", headers={"Authorization": "Bearer test-admin-token"})
    assert harness.json(again) == {"batches": 0, "events": 0, "missing": 0}


def test_a_compaction_meeting_a_running_erasure_keeps_the_inputs_and_the_day_marked(harness: Harness) -> None:
    from datetime import UTC, datetime

    from chalicelib.bootstrap import get_archive_maintenance, get_archive_service

    day = "2026-11-04"
    _track_on(harness, day, 3, user="busy-user", prefix="b")
    archive = get_archive_service().archive
    erasure_id = archive.erasure_started([day])  # an erasure of this day has started and not finished

    report = get_archive_maintenance().compact_due(datetime.now(UTC))

    assert report.skipped_days == [day] and report.days == 0
    assert len(_day_objects(day)) == 3 and not any("compacted" in k for k in _day_objects(day))
    assert day in archive.dirty_days()
    archive.erasure_finished([day], erasure_id)
    assert get_archive_maintenance().compact_due(datetime.now(UTC)).days == 1


def test_an_access_export_includes_archived_events_the_events_table_no_longer_holds(harness: Harness) -> None:
    # GIVEN a customer with an old event and a bystander, all archived
    send(harness, "/v1/track", {"userId": "bystander", "event": "Product Viewed", "messageId": "keep-2"})
    profile_id = known_customer(harness)
    old = "2026-09-01T09:00:00.000Z"
    send(harness, "/v1/track", {"userId": "priv-user", "event": "Old Order", "messageId": "old-1", "timestamp": old})
    harness.pump.drain()
    # AND the old event has since expired from the events table (its TTL; moto does not run TTL, so delete it)
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    ddb, table = client("dynamodb"), table_name("EventsTable")
    [expired] = ddb.scan(
        TableName=table, FilterExpression="pk = :k", ExpressionAttributeValues={":k": {"S": "web#old-1"}}
    )["Items"]
    ddb.delete_item(TableName=table, Key={"profile_id": expired["profile_id"], "ts_key": expired["ts_key"]})
    # WHEN the person asks for their data
    export = harness.json(harness.admin(f"/admin/profiles/{profile_id}/export"))
    # THEN the archived events are in it, whole, once each, and nobody else's
    archived = export["archived_events"]
    assert [line["key"] for line in archived].count("web#old-1") == 1
    [old_event] = [line for line in archived if line["key"] == "web#old-1"]
    assert old_event["day"] == "2026-09-01" and old_event["body"]["event"] == "Old Order"
    assert old_event["body"]["user_id"] == "priv-user"
    # (their merged anonymous profile's events included: archived lines keep the profile id of ingest time)
    assert any(line["body"].get("anonymous_id") == "priv-anon" and not line["body"].get("user_id") for line in archived)
    assert "keep-2" not in str(archived) and "bystander" not in str(archived)


def _index_writes(monkeypatch: Any) -> list[str]:
    """The per-person day index items the archive writes from now on (pk `archive#<profile id>`)."""
    from chalicelib.tracking.adapters import s3_archive

    written: list[str] = []
    real = s3_archive.batch_write

    def recording(table: str, requests: list[dict[str, Any]]) -> None:
        written.extend(
            r["PutRequest"]["Item"]["pk"]["S"]
            for r in requests
            if "PutRequest" in r and r["PutRequest"]["Item"]["pk"]["S"].startswith(s3_archive.INDEX_PREFIX)
        )
        real(table, requests)

    monkeypatch.setattr(s3_archive, "batch_write", recording)
    return written


def _set_archived_days(profile_id: str, days: list[str]) -> None:
    """Rewrite a stored profile's archived days (a profile written before they existed, or a merge that missed some)."""
    from chalicelib.bootstrap import get_profile_store
    from chalicelib.profiles import archived_days

    store = get_profile_store()
    stored = store.get(profile_id)
    assert stored is not None
    profile = stored.profile()
    profile.archived_days = archived_days.mark(b"", days)
    profile.version = stored.version + 1
    assert store.put(profile, stored.version)


def _archived_keys(profile_ids: set[str]) -> list[str]:
    return sorted(line["key"] for body in _archive().values() for line in body if line["profile_id"] in profile_ids)


def test_a_folded_visitors_days_go_to_their_profile_and_not_to_the_day_list(harness: Harness, monkeypatch) -> None:
    from chalicelib.bootstrap import get_profile_store
    from chalicelib.profiles import archived_days
    from chalicelib.tracking.identity import profile_id_for

    written = _index_writes(monkeypatch)
    # GIVEN a visitor's three batches of one day and one of an earlier day
    for n, ts in enumerate(["2026-11-30T10:00:00.000Z"] * 3 + ["2026-10-02T10:00:00.000Z"]):
        send(harness, "/v1/track", {"userId": "day-1", "event": "Viewed", "messageId": f"d{n}", "timestamp": ts})
        harness.pump.drain()
    # THEN the fold marked both days in the profile it wrote, and no day list item was written
    profile_id = profile_id_for("user", "day-1")
    stored = get_profile_store().get(profile_id)
    assert stored is not None
    assert archived_days.days(stored.profile().archived_days) == ["2026-10-02", "2026-11-30"]
    assert written == []
    assert "archived_days" not in harness.json(harness.admin(f"/admin/profiles/{profile_id}"))["profile"]
    # AND the access export and the erasure find all four through the profile
    export = harness.json(harness.admin(f"/admin/profiles/{profile_id}/export"))
    assert sorted(line["key"] for line in export["archived_events"]) == ["web#d0", "web#d1", "web#d2", "web#d3"]
    assert "archived_days" not in export["profile"]
    assert harness.json(delete(harness, f"/admin/profiles/{profile_id}"))["deleted"]["archived_events"] == 4
    assert _archived_keys({profile_id}) == []


def test_erasure_and_export_find_lines_known_only_from_a_merged_away_profile(harness: Harness, monkeypatch) -> None:
    from chalicelib.bootstrap import get_archive_service

    written = _index_writes(monkeypatch)
    # GIVEN a customer whose anonymous profile (archived page view) was merged into theirs
    profile_id = known_customer(harness)
    merged_away = harness.json(harness.admin(f"/admin/profiles/{profile_id}/export"))["merged_profile_ids"]
    assert merged_away and _archived_keys(set(merged_away))  # lines archived under the anonymous profile's id
    assert get_archive_service().archive.days(merged_away) == set()
    assert not any(pk.removeprefix("archive#") in merged_away for pk in written)
    # AND the winner's own day set lost those days (a merge that read the loser before its last write)
    _set_archived_days(profile_id, [])

    export = harness.json(harness.admin(f"/admin/profiles/{profile_id}/export"))
    assert any(line["profile_id"] in merged_away for line in export["archived_events"])
    response = delete(harness, f"/admin/profiles/{profile_id}")
    assert response.status_code == 200
    assert _archived_keys({profile_id, *merged_away}) == []
    assert b"priv-anon" not in _raw_archive()


def test_erasure_and_export_find_lines_known_only_from_the_legacy_day_list(harness: Harness) -> None:
    from chalicelib.bootstrap import get_archive_service
    from chalicelib.tracking.archive import encode, object_key

    # GIVEN a customer with a line archived before profiles held their days: listed in the StateTable day index only
    profile_id = known_customer(harness)
    archive = get_archive_service().archive
    line = {"key": "web#legacy-1", "profile_id": profile_id, "type": "track", "event": "Old", "ts": "2025-01-05"}
    archive.put(object_key("2025-01-05", "1", "2"), encode([{**line, "ts": "2025-01-05T10:00:00.000Z", "body": "{}"}]))
    archive.remember([(profile_id, "2025-01-05")])
    _set_archived_days(profile_id, [])

    export = harness.json(harness.admin(f"/admin/profiles/{profile_id}/export"))
    assert "web#legacy-1" in [line["key"] for line in export["archived_events"]]
    assert delete(harness, f"/admin/profiles/{profile_id}").status_code == 200
    assert "web#legacy-1" not in [line["key"] for body in _archive().values() for line in body]
    assert archive.days([profile_id]) == set()


def test_a_redirected_lines_pair_still_goes_to_the_day_list(harness: Harness, monkeypatch) -> None:
    """A line archived under a merged-away profile's id, whose event the fold redirected into the winner."""
    from chalicelib.bootstrap import get_archive_service, get_event_store
    from chalicelib.tracking.identity import profile_id_for
    from tests.factories import tracked_event

    profile_id = known_customer(harness)
    anon = profile_id_for("anon", "priv-anon")
    written = _index_writes(monkeypatch)
    # an event resolved at ingest to the anonymous profile (before the merge), stored and streamed now
    event = tracked_event(0, anon, anonymous_id="priv-anon")
    event.timestamp = event.received_at = event.timestamp.replace(year=2026, month=8, day=8)
    get_event_store().put_many([event])
    harness.pump.drain()

    assert written == [f"archive#{anon}"]
    assert "2026-08-08" in get_archive_service().archive.days([anon])
    assert delete(harness, f"/admin/profiles/{profile_id}").status_code == 200
    assert _archived_keys({anon, profile_id}) == []


def test_a_day_list_pair_is_written_once_per_warm_container(harness: Harness, monkeypatch) -> None:
    from chalicelib.bootstrap import get_archive_service

    written = _index_writes(monkeypatch)
    archive = get_archive_service().archive
    for _ in range(3):
        archive.remember([("p-warm", "2026-11-30")])
    assert written == ["archive#p-warm"] and archive.days(["p-warm"]) == {"2026-11-30"}
