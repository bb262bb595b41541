"""The Segment-compatible tracking API end to end against moto: what is accepted, stored once, refused, and why."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.tracking.event_codec import bodies, body_text
from tests.integration.conftest import ORIGIN, WRITE_KEY, Harness


def stored_events(h: Harness) -> list[dict]:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    items = client("dynamodb").scan(TableName=table_name("EventsTable"))["Items"]
    # A batch's events of one profile are one item (a group): every event, with the profile its item names.
    return [json.loads(body) | {"_profile_id": i["profile_id"]["S"]} for i in items for body in bodies(i)]


def track(**overrides):
    msg = {"anonymousId": "anon-1", "event": "Product Viewed", "properties": {"product_id": "p1", "price": 9.5}}
    msg.update(overrides)
    return msg


@pytest.mark.parametrize("path", ["/v1/track", "/v1/t"])
def test_track_is_accepted_and_stored_with_segment_fields(harness: Harness, path: str) -> None:
    # GIVEN a track message as analytics.js sends it
    msg = track(messageId="m-1", context={"page": {"url": "https://shop.example/p1?utm_source=news&utm_medium=email"}})
    # WHEN it is posted
    response = harness.post(path, msg)
    # THEN Segment's answer comes back and the event is stored with its enrichment
    assert response.status_code == 200
    assert harness.json(response) == {"success": True}
    [event] = stored_events(harness)
    assert event["message_id"] == "m-1"
    assert event["event"] == "Product Viewed"
    assert event["properties"] == {"product_id": "p1", "price": 9.5}
    assert event["context"]["campaign"] == {"source": "news", "medium": "email"}
    assert event["source_id"] == "web"


@pytest.mark.parametrize(
    ("path", "body", "expected_type"),
    [
        ("/v1/page", {"anonymousId": "a", "name": "Home"}, "page"),
        ("/v1/p", {"anonymousId": "a", "name": "Home"}, "page"),
        ("/v1/screen", {"userId": "u", "name": "Feed"}, "screen"),
        ("/v1/s", {"userId": "u", "name": "Feed"}, "screen"),
        ("/v1/identify", {"userId": "u", "traits": {"email": "A@B.example"}}, "identify"),
        ("/v1/i", {"userId": "u", "traits": {}}, "identify"),
        ("/v1/group", {"userId": "u", "groupId": "g1"}, "group"),
        ("/v1/g", {"userId": "u", "groupId": "g1"}, "group"),
        ("/v1/alias", {"userId": "u", "previousId": "a"}, "alias"),
        ("/v1/a", {"userId": "u", "previousId": "a"}, "alias"),
    ],
)
def test_every_message_type_and_short_path_is_accepted(harness: Harness, path, body, expected_type) -> None:
    response = harness.post(path, body)
    assert response.status_code == 200, response.body
    [event] = stored_events(harness)
    assert event["type"] == expected_type


def test_write_key_in_body_works_without_auth_header(harness: Harness) -> None:
    # sendBeacon cannot set headers, so the key travels in the body
    response = harness.post("/v1/track", track(writeKey=WRITE_KEY), auth=False, headers={"Content-Type": "text/plain"})
    assert response.status_code == 200
    assert len(stored_events(harness)) == 1


def test_missing_and_unknown_write_keys_are_401(harness: Harness) -> None:
    missing = harness.post("/v1/track", track(), auth=False)
    wrong = harness.post(
        "/v1/track", track(), auth=False, headers={"Authorization": "Basic " + base64.b64encode(b"nope:").decode()}
    )
    assert missing.status_code == 401 and harness.json(missing)["error"] == "unauthorized"
    assert wrong.status_code == 401 and "unknown write key" in harness.json(wrong)["message"]
    assert stored_events(harness) == []


def test_malformed_json_is_400_and_kept_as_a_failed_event(harness: Harness) -> None:
    response = harness.post("/v1/track", '{"anonymousId": "a", "event": ')
    assert response.status_code == 400
    assert harness.json(response)["error"] == "invalid_json"
    [failed] = harness.failed_events()
    assert failed["reason"]["error"] == "invalid_json"
    assert failed["source_id"] == "web"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event": "X"}, "userId"),
        ({"anonymousId": "null", "event": "X"}, "userId"),
        ({"anonymousId": "a"}, "event"),
        ({"anonymousId": "a", "event": ""}, "event"),
        ({"anonymousId": "a", "event": "X", "properties": [1, 2]}, "properties"),
        ({"anonymousId": "a", "event": "X", "context": "nope"}, "context"),
        ({"anonymousId": "a", "event": "X", "timestamp": "yesterday"}, "timestamp"),
        ({"anonymousId": {"id": 1}, "event": "X"}, "anonymousId"),
    ],
)
def test_invalid_messages_are_400_with_the_field_named_and_recorded(harness: Harness, body, field) -> None:
    response = harness.post("/v1/track", body)
    assert response.status_code == 400
    assert harness.json(response)["field"] == field
    assert stored_events(harness) == []
    assert len(harness.failed_events()) == 1


def test_unknown_fields_are_kept_not_rejected(harness: Harness) -> None:
    response = harness.post("/v1/track", track(shinyNewField={"a": 1}))
    assert response.status_code == 200
    assert stored_events(harness)[0]["extra"] == {"shinyNewField": {"a": 1}}


def test_size_limits_name_the_limit(harness: Harness) -> None:
    big = track(properties={"blob": "x" * 33_000})
    single = harness.post("/v1/track", big)
    batch = harness.post("/v1/batch", {"batch": [track(properties={"blob": "x" * 30_000})] * 18})
    assert single.status_code == 400 and "32 KB" in harness.json(single)["message"]
    assert batch.status_code == 400 and "500 KB" in harness.json(batch)["message"]


def test_duplicate_message_id_is_stored_once_per_request_and_listed_and_counted_once(harness: Harness) -> None:
    from chalicelib.bootstrap import get_event_store

    for _ in range(3):
        assert harness.post("/v1/track", track(messageId="dup-1")).status_code == 200
    batch = [track(type="track", messageId=m) for m in ("dup-1", "dup-1", "m2")]
    for _ in range(2):  # an SDK retrying the same batch
        assert harness.post("/v1/batch", {"batch": batch}).status_code == 200
    # A single event is a conditional put; a batch is written with no read (issue 19): its item (one per profile)
    # holds the batch's copy of dup-1, and the same batch re-sent rewrites that same item.
    assert sorted(e["message_id"] for e in stored_events(harness)) == ["dup-1", "dup-1", "m2"]
    assert harness.scan_count("EventsTable") == 2
    [profile_id] = {e["_profile_id"] for e in stored_events(harness)}
    assert sorted(e.message_id for e in get_event_store().history(profile_id)) == ["dup-1", "m2"]
    harness.pump.drain()
    profile = harness.json(harness.admin("/admin/profiles?anonymous_id=anon-1"))["profile"]
    assert profile["computed"]["event_counts"] == {"Product Viewed": 2}  # the fold's replay guard: dup-1 once


def _events_stream_records() -> list[dict]:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    arn = client("dynamodb").describe_table(TableName=table_name("EventsTable"))["Table"]["LatestStreamArn"]
    streams = client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]


def test_a_batch_resending_a_stored_message_id_never_overwrites_its_body(harness: Harness) -> None:
    # GIVEN an event stored once (by a batch and by the single-event API)
    original = track(type="track", messageId="orig-1", properties={"price": 9.5})
    assert harness.post("/v1/batch", {"batch": [original]}).status_code == 200
    assert harness.post("/v1/track", track(messageId="orig-2")).status_code == 200
    # WHEN a later batch re-sends both ids with other content, beside a new event
    forged = [
        track(type="track", messageId="orig-1", event="Order Completed", properties={"revenue": 9999}),
        track(type="track", messageId="orig-2", event="Order Completed", properties={"revenue": 9999}),
        track(type="track", messageId="new-1"),
    ]
    response = harness.post("/v1/batch", {"batch": forged})
    # THEN the new event is stored, the stored bodies are the originals, and the stream shows no MODIFY
    assert response.status_code == 200 and harness.json(response) == {"success": True}
    by_id = {e["message_id"]: e for e in stored_events(harness)}
    assert sorted(by_id) == ["new-1", "orig-1", "orig-2"]
    assert by_id["orig-1"]["event"] == by_id["orig-2"]["event"] == "Product Viewed"
    assert by_id["orig-1"]["properties"] == {"price": 9.5}
    records = _events_stream_records()
    assert [r["eventName"] for r in records] == ["INSERT"] * 3


def test_a_batch_of_only_resent_messages_with_one_invalid_is_still_accepted(harness: Harness) -> None:
    # GIVEN a batch stored once; WHEN the SDK re-sends it with one invalid message added
    assert harness.post("/v1/batch", {"batch": [track(type="track", messageId="b-1")]}).status_code == 200
    resent = harness.post("/v1/batch", {"batch": [track(type="track", messageId="b-1"), {"type": "track"}]})
    # THEN it is not refused as a whole: the stored message was accepted the first time
    assert resent.status_code == 200
    assert [r["index"] for r in harness.json(resent)["rejected"]] == [1]


def test_message_id_is_generated_when_absent(harness: Harness) -> None:
    harness.post("/v1/track", track())
    assert len(stored_events(harness)[0]["message_id"]) >= 32


def test_clock_skew_is_corrected_like_segment(harness: Harness) -> None:
    # GIVEN a device whose clock runs 2 hours fast, which sent the event 10 s after it happened
    device_now = datetime.now(UTC) + timedelta(hours=2)
    original = device_now - timedelta(seconds=10)
    msg = track(originalTimestamp=original.isoformat(), sentAt=device_now.isoformat())
    before = datetime.now(UTC)
    harness.post("/v1/track", msg)
    event = stored_events(harness)[0]
    ts = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    # THEN the stored time is about 10 s before arrival, not 2 h in the future
    assert before - timedelta(seconds=12) < ts < before - timedelta(seconds=8)
    assert "timestamp_clamped_future" not in event["flags"]


def test_far_future_and_far_past_timestamps_are_clamped_and_flagged(harness: Harness) -> None:
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    past = "1999-01-01T00:00:00Z"
    harness.post("/v1/batch", {"batch": [track(type="track", timestamp=future), track(type="track", timestamp=past)]})
    flags = sorted(f for e in stored_events(harness) for f in e["flags"])
    assert flags == ["timestamp_clamped_future", "timestamp_clamped_past"]
    for event in stored_events(harness):
        ts = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        assert abs(ts - datetime.now(UTC)) < timedelta(minutes=1)


def test_ip_is_anonymised_and_bots_flagged(harness: Harness) -> None:
    harness.post(
        "/v1/track",
        track(context={"ip": "203.0.113.77", "userAgent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}),
    )
    event = stored_events(harness)[0]
    assert event["context"]["ip"] == "203.0.113.0"
    assert "203.0.113.77" not in json.dumps(event)
    assert event["is_bot"] is True and "bot" in event["flags"]


def test_referrer_host_and_search_terms_are_extracted(harness: Harness) -> None:
    page = {"url": "https://shop.example/", "referrer": "https://www.bing.com/search?q=red+shoes"}
    harness.post("/v1/page", {"anonymousId": "a", "context": {"page": page}})
    ctx = stored_events(harness)[0]["context"]
    assert ctx["referrer_host"] == "www.bing.com"
    assert ctx["referrer_search_terms"] == "red shoes"


def test_batch_stores_valid_messages_and_reports_the_invalid_ones(harness: Harness) -> None:
    body = {
        "batch": [
            track(type="track", messageId="ok-1"),
            {"type": "track", "anonymousId": "a"},
            {"type": "page", "userId": "u", "messageId": "ok-2"},
            {"type": "bogus", "userId": "u"},
        ],
        "sentAt": datetime.now(UTC).isoformat(),
        "context": {"library": {"name": "analytics-python"}},
    }
    response = harness.post("/v1/batch", body)
    assert response.status_code == 200
    rejected = harness.json(response)["rejected"]
    assert [(r["index"], r["field"]) for r in rejected] == [(1, "batch[1].event"), (3, "batch[3].type")]
    stored = {e["message_id"]: e for e in stored_events(harness)}
    assert set(stored) == {"ok-1", "ok-2"}
    assert stored["ok-2"]["context"]["library"] == {"name": "analytics-python"}
    assert len(harness.failed_events()) == 2


def test_batch_of_only_invalid_messages_is_400(harness: Harness) -> None:
    response = harness.post("/v1/batch", {"batch": [{"type": "track"}]})
    assert response.status_code == 400
    assert harness.json(response)["error"] == "invalid_batch"


def test_cors_allowed_origin_gets_headers_and_preflight_works(harness: Harness) -> None:
    preflight = harness.client.http.request(
        "OPTIONS", "/v1/batch", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    post = harness.post("/v1/track", track(), headers={"Origin": ORIGIN})
    assert post.status_code == 200
    assert post.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_cors_other_origin_is_refused(harness: Harness) -> None:
    evil = "https://evil.example"
    preflight = harness.client.http.request("OPTIONS", "/v1/track", headers={"Origin": evil})
    post = harness.post("/v1/track", track(), headers={"Origin": evil})
    assert preflight.status_code == 403 and "Access-Control-Allow-Origin" not in preflight.headers
    assert post.status_code == 403 and "Access-Control-Allow-Origin" not in post.headers
    assert harness.json(post)["error"] == "origin_not_allowed"
    assert stored_events(harness) == []


def test_unknown_tracking_path_is_404_json(harness: Harness) -> None:
    response = harness.post("/v1/launch", track())
    assert response.status_code == 404
    assert harness.json(response)["error"] == "unknown_endpoint"


def test_single_event_costs_one_write_and_batch_uses_batchwriteitem(harness: Harness) -> None:
    from chalicelib.shared.aws import client

    calls: list[str] = []
    ddb = client("dynamodb")
    ddb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    harness.post("/v1/track", track(messageId="one"))
    writes = [c for c in calls if c in {"PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems"}]
    assert writes == ["PutItem"]
    calls.clear()
    harness.post("/v1/batch", {"batch": [track(type="track", messageId=f"b{i}") for i in range(60)]})
    writes = [c for c in calls if c in {"PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems"}]
    assert writes == ["BatchWriteItem"]  # one visitor's batch: one item, with no read of its keys first
    assert "BatchGetItem" not in calls or calls.count("BatchGetItem") == 1  # the identities' lookup only
    calls.clear()
    users = [track(type="track", messageId=f"u{i}", anonymousId=f"anon-u{i}") for i in range(60)]
    harness.post("/v1/batch", {"batch": users})  # a server batch of 60 people: 60 items, 25 a request
    writes = [c for c in calls if c in {"PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems"}]
    assert writes == ["BatchWriteItem"] * 3


def test_storage_outage_is_503_so_sdks_retry(harness: Harness, monkeypatch) -> None:
    from botocore.exceptions import ClientError

    from chalicelib.bootstrap import get_event_store

    def boom(*_a, **_k):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "PutItem")

    monkeypatch.setattr(get_event_store(), "put_new", boom)
    response = harness.post("/v1/track", track())
    assert response.status_code == 503
    assert harness.json(response)["error"] == "unavailable"


def test_a_batch_write_that_stays_unprocessed_is_503_but_a_bug_is_not_dressed_as_an_outage(
    harness: Harness, monkeypatch
) -> None:
    from chalicelib.bootstrap import get_event_store
    from chalicelib.shared.faults import StorageUnavailable

    # GIVEN DynamoDB keeps handing the batch back (throttled past our own retries)
    def unprocessed(*_a, **_k):
        raise StorageUnavailable("25 items still unprocessed after 8 rounds")

    monkeypatch.setattr(get_event_store(), "put_new", unprocessed)
    # THEN the SDK is told to retry
    response = harness.post("/v1/track", track())
    assert response.status_code == 503 and harness.json(response)["error"] == "unavailable"

    # GIVEN a programming error instead
    def bug(*_a, **_k):
        raise RuntimeError("unexpected state")

    monkeypatch.setattr(get_event_store(), "put_new", bug)
    # THEN it is not answered as "storage unavailable, retry" (SDKs would retry a bug forever)
    response = harness.post("/v1/track", track(messageId="m-bug"))
    assert response.status_code != 503


def test_global_privacy_control_unlinks_the_event_from_the_person(harness: Harness) -> None:
    # GIVEN a browser sending Sec-GPC: 1 and a site that recorded no consent
    msg = track(userId="u-gpc", traits={"email": "x@example.com"}, context={"ip": "203.0.113.9"})
    response = harness.post("/v1/track", msg, headers={"Sec-GPC": "1"})
    assert response.status_code == 200
    [event] = stored_events(harness)
    # THEN what happened is kept, who did it is not
    assert event["_profile_id"].startswith("unlinked#")
    assert event["user_id"] is None and event["anonymous_id"] is None and event["traits"] == {}
    assert "ip" not in event["context"] and "unlinked" in event["flags"]
    harness.pump.drain()
    assert harness.admin("/admin/profiles?user_id=u-gpc").status_code == 404


def test_global_privacy_control_with_site_consent_is_tracked_normally(harness: Harness) -> None:
    msg = track(messageId="gpc-ok", context={"consent": {"granted": True}})
    harness.post("/v1/track", msg, headers={"Sec-GPC": "1"})
    [event] = stored_events(harness)
    assert event["anonymous_id"] == "anon-1" and "gpc" in event["flags"]
    assert not event["_profile_id"].startswith("unlinked#")


def test_consent_changes_are_recorded_as_events_and_reach_the_profile(harness: Harness) -> None:
    response = harness.post(
        "/v1/consent", {"userId": "c-1", "consent": {"email": True, "sms": False}, "source": "preference centre"}
    )
    assert response.status_code == 200
    assert sorted(harness.json(response)["recorded"]) == ["Email Subscribed", "SMS Unsubscribed"]
    harness.pump.drain()
    profile = harness.json(harness.admin("/admin/profiles?user_id=c-1"))["profile"]
    assert profile["consent"]["email"]["status"] == "opted_in"
    assert profile["consent"]["sms"]["status"] == "opted_out"
    assert profile["consent"]["email"]["source"] == "preference centre"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"userId": "c"}, "consent"),
        ({"userId": "c", "consent": {"fax": True}}, "consent.fax"),
        ({"userId": "c", "consent": {"email": "yes"}}, "consent.email"),
        ({"consent": {"email": True}}, "userId"),
    ],
)
def test_bad_consent_requests_are_400_with_the_field(harness: Harness, body, field) -> None:
    response = harness.post("/v1/consent", body)
    assert response.status_code == 400
    assert harness.json(response)["field"] == field


def test_server_side_sdk_agents_are_not_bots_but_browser_beacons_from_bots_are(harness: Harness) -> None:
    # GIVEN a server-side SDK posting through python-requests (no Origin): its agent says nothing about the person
    harness.post("/v1/track", track(messageId="server"), headers={"User-Agent": "python-requests/2.32"})
    # AND a headless browser sending a beacon from the site
    harness.post(
        "/v1/track",
        track(messageId="browser"),
        headers={"User-Agent": "Mozilla/5.0 HeadlessChrome/120.0", "Origin": ORIGIN},
    )
    by_id = {e["message_id"]: e for e in stored_events(harness)}
    assert by_id["server"]["is_bot"] is False
    assert by_id["browser"]["is_bot"] is True


@pytest.mark.parametrize(("configured", "days"), [(None, 35), ("90", 90), ("0", 35), ("soon", 35)])
def test_a_stored_event_expires_after_the_configured_ttl(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, configured: str | None, days: int
) -> None:
    from chalicelib import bootstrap
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    # GIVEN EVENT_TTL_DAYS unset (the default), set, or set to something that is not a positive number
    if configured is None:
        monkeypatch.delenv("EVENT_TTL_DAYS", raising=False)
    else:
        monkeypatch.setenv("EVENT_TTL_DAYS", configured)
    bootstrap.reset()
    # WHEN an event is stored
    assert harness.post("/v1/track", track(messageId="ttl-1")).status_code == 200
    # THEN DynamoDB's TTL attribute is its arrival plus that many days (the archive keeps it after that)
    [item] = client("dynamodb").scan(TableName=table_name("EventsTable"))["Items"]
    received = datetime.fromisoformat(json.loads(body_text(item))["received_at"].replace("Z", "+00:00"))
    assert int(item["expires_at"]["N"]) == int(received.timestamp()) + days * 86400
