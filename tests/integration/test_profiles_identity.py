"""Events become profiles through the real stream pump; identities link and merge without losing history."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Harness


def send(h: Harness, path: str, body: dict) -> None:
    response = h.post(path, body)
    assert response.status_code == 200, response.body


def profile_by(h: Harness, **query: str) -> dict:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    response = h.admin(f"/admin/profiles?{qs}")
    assert response.status_code == 200, response.body
    return h.json(response)


def test_anonymous_events_fold_into_a_profile_visible_in_the_admin_api(harness: Harness) -> None:
    # GIVEN an anonymous visitor browsing
    send(harness, "/v1/page", {"anonymousId": "anon-1", "name": "Home"})
    send(harness, "/v1/track", {"anonymousId": "anon-1", "event": "Product Viewed", "properties": {"product_id": "p1"}})
    # WHEN the stream is pumped
    harness.pump.drain()
    # THEN one profile holds both events
    view = profile_by(harness, anonymous_id="anon-1")
    assert view["profile"]["anonymous_ids"] == ["anon-1"]
    assert view["profile"]["computed"]["page_views"] == 1
    assert {e["event"] for e in view["recent_events"] if e.get("event")} == {"Product Viewed"}
    assert len(view["recent_events"]) == 2


def test_identify_merges_the_anonymous_history_into_the_known_profile(harness: Harness) -> None:
    # GIVEN anonymous browsing, then a sign-up on the same device
    for n in range(3):
        send(harness, "/v1/page", {"anonymousId": "anon-2", "name": f"Page {n}"})
    harness.pump.drain()
    anon_profile = profile_by(harness, anonymous_id="anon-2")["profile_id"]
    send(harness, "/v1/identify", {"anonymousId": "anon-2", "userId": "user-2", "traits": {"email": "Kim@Example.com"}})
    harness.pump.drain()
    # THEN every identity resolves to one profile that carries the anonymous history
    by_user = profile_by(harness, user_id="user-2")
    by_anon = profile_by(harness, anonymous_id="anon-2")
    by_email = profile_by(harness, email="kim@example.com")
    assert by_user["profile_id"] == by_anon["profile_id"] == by_email["profile_id"]
    assert by_user["profile"]["computed"]["page_views"] == 3
    assert {"user:user-2", "email:kim@example.com", "anon:anon-2"} <= set(by_user["identities"])
    events = by_user["recent_events"]
    assert sum(1 for e in events if e["type"] == "page") == 3
    # AND the merge is recorded with both ids, and the old id redirects
    [audit] = [e for e in events if e.get("event") == "Profiles Merged"]
    assert audit["properties"]["loser_profile_id"] == anon_profile
    assert audit["properties"]["winner_profile_id"] == by_user["profile_id"]
    old = harness.json(harness.admin(f"/admin/profiles/{anon_profile}"))
    assert old["profile_id"] == by_user["profile_id"] and old["redirected_from"] == anon_profile


def test_later_anonymous_events_from_a_known_device_land_on_the_user(harness: Harness) -> None:
    send(harness, "/v1/identify", {"anonymousId": "anon-3", "userId": "user-3"})
    harness.pump.drain()
    send(harness, "/v1/track", {"anonymousId": "anon-3", "event": "Product Added", "properties": {"product_id": "x"}})
    harness.pump.drain()
    view = profile_by(harness, user_id="user-3")
    assert any(e.get("event") == "Product Added" for e in view["recent_events"])


def test_a_shared_device_never_glues_two_users_together(harness: Harness) -> None:
    send(harness, "/v1/identify", {"anonymousId": "kiosk", "userId": "alice"})
    harness.pump.drain()
    send(harness, "/v1/identify", {"anonymousId": "kiosk", "userId": "bob"})
    harness.pump.drain()
    alice = profile_by(harness, user_id="alice")
    bob = profile_by(harness, user_id="bob")
    assert alice["profile_id"] != bob["profile_id"]
    assert alice["profile"]["user_id"] == "alice" and bob["profile"]["user_id"] == "bob"
    # the device follows its latest login
    assert profile_by(harness, anonymous_id="kiosk")["profile_id"] == bob["profile_id"]


def test_a_profile_absorbs_at_most_the_configured_number_of_anonymous_ids(harness: Harness, monkeypatch) -> None:
    from chalicelib import bootstrap

    monkeypatch.setenv("MAX_ANONYMOUS_IDS_PER_PROFILE", "2")
    bootstrap.reset()
    for device in ("d1", "d2", "d3"):
        send(harness, "/v1/page", {"anonymousId": device})
        harness.pump.drain()
        send(harness, "/v1/identify", {"anonymousId": device, "userId": "many-devices"})
        harness.pump.drain()
    view = profile_by(harness, user_id="many-devices")
    assert sorted(view["profile"]["anonymous_ids"]) == ["d1", "d2"]
    assert profile_by(harness, anonymous_id="d3")["profile_id"] != view["profile_id"]


def test_email_links_two_devices_of_one_person(harness: Harness) -> None:
    send(harness, "/v1/page", {"anonymousId": "phone"})
    send(harness, "/v1/page", {"anonymousId": "laptop"})
    harness.pump.drain()
    send(harness, "/v1/identify", {"anonymousId": "phone", "traits": {"email": "sam@example.com"}})
    harness.pump.drain()
    send(harness, "/v1/identify", {"anonymousId": "laptop", "traits": {"email": "sam@example.com"}})
    harness.pump.drain()
    phone = profile_by(harness, anonymous_id="phone")
    laptop = profile_by(harness, anonymous_id="laptop")
    assert phone["profile_id"] == laptop["profile_id"]
    assert phone["profile"]["computed"]["page_views"] == 2


def test_alias_links_the_previous_id(harness: Harness) -> None:
    send(harness, "/v1/page", {"anonymousId": "old-anon"})
    harness.pump.drain()
    send(harness, "/v1/alias", {"userId": "new-user", "previousId": "old-anon"})
    harness.pump.drain()
    assert (
        profile_by(harness, anonymous_id="old-anon")["profile_id"]
        == profile_by(harness, user_id="new-user")["profile_id"]
    )


def test_a_replayed_stream_batch_does_not_double_count(harness: Harness) -> None:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name
    from local.pump import lambda_dynamodb_record

    for n in range(4):
        send(harness, "/v1/track", {"anonymousId": "replay", "event": "Product Viewed", "messageId": f"r{n}"})
    ddb = client("dynamodb")
    streams = client("dynamodbstreams")
    arn = ddb.describe_table(TableName=table_name("EventsTable"))["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    event = {"Records": [lambda_dynamodb_record(r, arn, "us-east-1") for r in records]}
    handler = harness.app.handler_map["fold_events"]
    assert handler(event, None) == {"batchItemFailures": []}
    before = profile_by(harness, anonymous_id="replay")
    # WHEN the same batch is delivered again (a Lambda retry)
    assert handler(event, None) == {"batchItemFailures": []}
    after = profile_by(harness, anonymous_id="replay")
    assert after["profile"] == before["profile"]
    assert after["profile"]["computed"]["event_counts"]["Product Viewed"] == 4


def test_a_poison_record_is_parked_and_does_not_block_the_batch(harness: Harness) -> None:
    send(harness, "/v1/track", {"anonymousId": "ok", "event": "Signed Up"})
    poison = {
        "eventID": "1",
        "eventName": "INSERT",
        "dynamodb": {"SequenceNumber": "999", "NewImage": {"pk": {"S": "x"}, "body": {"S": "{not json"}}},
    }
    result = harness.app.handler_map["fold_events"]({"Records": [poison]}, None)
    assert result == {"batchItemFailures": []}
    assert any(f["reason"]["error"] == "poison_record" for f in harness.failed_events())
    harness.pump.drain()
    assert profile_by(harness, anonymous_id="ok")["profile"]["computed"]["event_counts"]["Signed Up"] == 1


@pytest.mark.parametrize("query", ["", "anonymous_id=null", "user_id="])
def test_admin_lookup_without_a_usable_identity_is_400(harness: Harness, query: str) -> None:
    response = harness.admin(f"/admin/profiles?{query}")
    assert response.status_code == 400


def test_admin_unknown_profile_is_404_and_needs_the_token(harness: Harness) -> None:
    assert harness.admin("/admin/profiles/p_nope").status_code == 404
    assert harness.admin("/admin/profiles?anonymous_id=never-seen").status_code == 404
    assert harness.client.http.get("/admin/profiles/p_nope").status_code == 401
    wrong = harness.client.http.get("/admin/profiles/p_nope", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401


def test_anonymous_events_folded_with_the_identify_join_the_known_person(harness: Harness) -> None:
    # GIVEN an identify and events the same device sent before its id was linked, folded in one stream batch
    send(harness, "/v1/identify", {"anonymousId": "same-batch", "userId": "sb-user", "traits": {"firstName": "Ana"}})
    harness.post(
        "/v1/batch",
        {
            "batch": [
                {"type": "track", "anonymousId": "same-batch", "event": "Signed Up"},
                {"type": "page", "anonymousId": "same-batch"},
            ]
        },  # fmt: skip
    )
    harness.pump.drain()
    # THEN the person keeps their own profile id, and it holds everything
    from chalicelib.tracking.identity import profile_id_for

    view = profile_by(harness, user_id="sb-user")
    assert view["profile_id"] == profile_id_for("user", "sb-user")
    assert profile_by(harness, anonymous_id="same-batch")["profile_id"] == view["profile_id"]
    counts = view["profile"]["computed"]["event_counts"]
    assert counts["Identify"] == 1 and counts["Signed Up"] == 1
    assert view["profile"]["computed"]["page_views"] == 1
    assert view["profile"]["traits"]["firstName"] == "Ana"


def test_late_anonymous_events_from_before_the_link_join_the_known_person(harness: Harness) -> None:
    # GIVEN an anonymous event ingested (resolved to the device's own id) but folded after the login
    send(harness, "/v1/track", {"anonymousId": "late-dev", "event": "Product Viewed", "messageId": "late-1"})
    send(harness, "/v1/identify", {"anonymousId": "late-dev", "userId": "late-user"})
    harness.pump.drain()
    from chalicelib.tracking.identity import profile_id_for

    view = profile_by(harness, user_id="late-user")
    assert view["profile_id"] == profile_id_for("user", "late-user")
    assert view["profile"]["computed"]["event_counts"]["Product Viewed"] == 1
