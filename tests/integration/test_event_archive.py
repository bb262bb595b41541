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

    client("dynamodb").delete_item(TableName=table_name("EventsTable"), Key={"pk": {"S": "web#old-1"}})
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
