"""Segment membership follows the profiles stream: membership items, sizes, the admin segments API, replays."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import Harness

CART = "cart_abandoners"


def send(h: Harness, path: str, body: dict[str, Any]) -> None:
    response = h.post(path, body)
    assert response.status_code == 200, response.body


def add_to_cart(h: Harness, anon: str, product: str = "sku-1") -> None:
    send(
        h,
        "/v1/track",
        {
            "anonymousId": anon,
            "event": "Product Added",
            "properties": {"product_id": product, "name": "Mug", "price": 12.5, "quantity": 1, "category": "kitchen"},
        },
    )


def order(h: Harness, anon: str, order_id: str, product: str = "sku-1", **extra: Any) -> None:
    body = {
        "anonymousId": anon,
        "event": "Order Completed",
        "properties": {
            "order_id": order_id,
            "revenue": 12.5,
            "products": [{"product_id": product, "price": 12.5, "quantity": 1, "category": "kitchen"}],
        },
    }
    body.update(extra)
    send(h, "/v1/track", body)


def profile_of(h: Harness, anon: str) -> dict[str, Any]:
    response = h.admin(f"/admin/profiles?anonymous_id={anon}")
    assert response.status_code == 200, response.body
    return h.json(response)


def sizes(h: Harness) -> dict[str, int]:
    response = h.admin("/admin/segments")
    assert response.status_code == 200, response.body
    return {s["id"]: s["size"] for s in h.json(response)["items"]}


def members(h: Harness, segment: str, query: str = "") -> dict[str, Any]:
    response = h.admin(f"/admin/segments/{segment}/members{query}")
    assert response.status_code == 200, response.body
    return h.json(response)


def profiles_stream_event(h: Harness, table: str = "ProfilesTable") -> dict[str, Any]:
    """Every record of the profiles stream (or `table`'s) so far, shaped as Lambda delivers them (a whole-shard
    replay)."""
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name
    from local.pump import lambda_dynamodb_record

    ddb, streams = client("dynamodb"), client("dynamodbstreams")
    arn = ddb.describe_table(TableName=table_name(table))["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        records += streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
    return {"Records": [lambda_dynamodb_record(r, arn, "us-east-1") for r in records]}


def test_a_cart_abandoner_enters_and_exits_with_transitions_membership_items_and_sizes(harness: Harness) -> None:
    # GIVEN a visitor who puts a mug in the cart
    add_to_cart(harness, "shopper-1")
    harness.pump.drain()
    # THEN the profile is in the segment, the entry is a transition, and the membership item and size exist
    view = profile_of(harness, "shopper-1")
    profile_id = view["profile_id"]
    assert view["profile"]["segments"] == [CART]
    assert view["summary"]["segments"] == [CART]
    entered = [t for t in view["profile"]["recent_transitions"] if t["kind"] == "segment_entered"]
    assert [t["name"] for t in entered] == [CART]
    page = members(harness, CART)
    assert [m["profile_id"] for m in page["items"]] == [profile_id]
    assert page["items"][0]["entered_at"] == entered[0]["at"]
    assert page["size"] == 1 and sizes(harness)[CART] == 1

    # WHEN the visitor buys what was in the cart
    order(harness, "shopper-1", "o-1")
    harness.pump.drain()
    # THEN the exit is recorded and the membership is gone
    view = profile_of(harness, "shopper-1")
    assert CART not in view["profile"]["segments"]
    exited = [t for t in view["profile"]["recent_transitions"] if t["kind"] == "segment_exited"]
    assert [t["name"] for t in exited] == [CART]
    assert members(harness, CART)["items"] == []
    assert sizes(harness)[CART] == 0


def test_admin_lists_the_configured_segments_with_their_rules_and_sizes(harness: Harness) -> None:
    add_to_cart(harness, "a")
    add_to_cart(harness, "b")
    harness.pump.drain()
    body = harness.json(harness.admin("/admin/segments"))
    by_id = {s["id"]: s for s in body["items"]}
    assert set(by_id) == {"women_southern_california", CART, "loyal_top_of_group"}
    assert by_id[CART]["size"] == 2 and by_id["loyal_top_of_group"]["size"] == 0
    assert by_id[CART]["description"].startswith("Something in the cart")
    assert by_id[CART]["rule"]["all"][0] == {"field": "computed.cart_quantity", "op": "gt", "value": 0}


def test_segment_members_are_paged_with_an_opaque_cursor(harness: Harness) -> None:
    # GIVEN five cart abandoners
    for n in range(5):
        add_to_cart(harness, f"pager-{n}")
    harness.pump.drain()
    # WHEN the members are read two at a time
    seen: list[str] = []
    cursor = ""
    for _ in range(5):
        page = members(harness, CART, f"?limit=2{cursor}")
        assert page["count"] <= 2
        seen += [m["profile_id"] for m in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    # THEN every member is listed once, in key order
    assert len(seen) == 5 and seen == sorted(set(seen))


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/admin/segments/no_such_segment/members", 404, "not_found"),
        (f"/admin/segments/{CART}/members?cursor=not-a-cursor", 400, "invalid_parameter"),
        (f"/admin/segments/{CART}/members?cursor=eyJ4IjoxfQ", 400, "invalid_parameter"),  # valid base64 JSON, not ours
        (f"/admin/segments/{CART}/members?limit=0", 400, "invalid_parameter"),
        (f"/admin/segments/{CART}/members?limit=abc", 400, "invalid_parameter"),
    ],
)
def test_bad_segment_requests_are_client_errors(harness: Harness, path: str, status: int, error: str) -> None:
    response = harness.admin(path)
    assert response.status_code == status
    assert harness.json(response)["error"] == error


def test_segment_routes_need_the_admin_token(harness: Harness) -> None:
    assert harness.client.http.get("/admin/segments").status_code == 401
    assert harness.client.http.get(f"/admin/segments/{CART}/members").status_code == 401


def test_a_replayed_profiles_stream_batch_does_not_double_count_sizes(harness: Harness) -> None:
    # GIVEN two abandoners, one of whom has bought since (an entry and an exit in the stream)
    add_to_cart(harness, "r1")
    add_to_cart(harness, "r2")
    harness.pump.drain()
    order(harness, "r2", "o-r2")
    harness.pump.drain()
    assert sizes(harness)[CART] == 1
    before = members(harness, CART)["items"]
    # WHEN Lambda delivers the last batch again (a retry after a timeout), twice
    event = profiles_stream_event(harness)
    last = {"Records": event["Records"][-1:]}
    handler = harness.app.handler_map["update_segment_members"]
    from chalicelib.bootstrap import get_segment_membership_service

    for _ in range(2):
        assert handler(last, None) == {"batchItemFailures": []}
        # THEN the conditional write finds the exit already done: nothing is counted again
        stats = get_segment_membership_service().last_stats
        assert (stats.entered, stats.left, stats.unchanged) == (0, 0, 1)
    assert sizes(harness)[CART] == 1
    # WHEN the whole shard is replayed from the start
    assert handler(event, None) == {"batchItemFailures": []}
    harness.pump.drain()
    # THEN it converges on the same members, and the size still equals the number of membership items
    assert sizes(harness)[CART] == 1
    assert members(harness, CART)["items"] == before


def test_a_merged_away_profile_leaves_its_segments_and_the_winner_takes_them(harness: Harness) -> None:
    # GIVEN an anonymous abandoner
    add_to_cart(harness, "device-9")
    harness.pump.drain()
    anon_profile = profile_of(harness, "device-9")["profile_id"]
    assert [m["profile_id"] for m in members(harness, CART)["items"]] == [anon_profile]
    # WHEN they sign up on that device (the anonymous profile is merged into the user's)
    send(harness, "/v1/identify", {"anonymousId": "device-9", "userId": "user-9"})
    harness.pump.drain()
    # THEN only the winner is a member and the size still counts one person
    winner = profile_of(harness, "device-9")["profile_id"]
    assert winner != anon_profile
    assert [m["profile_id"] for m in members(harness, CART)["items"]] == [winner]
    assert sizes(harness)[CART] == 1


def test_a_storage_failure_reports_the_record_and_the_rest_for_retry(harness: Harness, monkeypatch) -> None:
    from botocore.exceptions import ClientError

    from chalicelib.bootstrap import get_segment_store

    add_to_cart(harness, "flaky-1")
    add_to_cart(harness, "flaky-2")
    harness.pump.drain()
    event = profiles_stream_event(harness)
    # Pretend the profiles were brand new again so the replay has real work to do: drop the membership first.
    store = get_segment_store()
    for row in members(harness, CART)["items"]:
        store.leave(CART, row["profile_id"])
    calls = {"n": 0}
    real_enter = store.enter

    def throttled_once(*args: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "TransactWriteItems")
        return real_enter(*args)

    monkeypatch.setattr(store, "enter", throttled_once)
    result = harness.app.handler_map["update_segment_members"](event, None)
    failed = [f["itemIdentifier"] for f in result["batchItemFailures"]]
    sequences = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
    # THEN the failing record and every later one are retried; nothing before it is
    assert failed and failed == sequences[sequences.index(failed[0]) :]
    # AND the retry (Lambda resumes at the first failure) completes the work exactly once
    retry = {"Records": [r for r in event["Records"] if r["dynamodb"]["SequenceNumber"] in failed]}
    assert harness.app.handler_map["update_segment_members"](retry, None) == {"batchItemFailures": []}
    harness.pump.drain()  # the members stream: the two exits above and the two entries of the replay
    assert sizes(harness)[CART] == 2


def test_an_erased_profile_leaves_its_segments_once(harness: Harness) -> None:
    from chalicelib.bootstrap import get_privacy_service

    add_to_cart(harness, "forget-me")
    add_to_cart(harness, "keep-me")
    harness.pump.drain()
    profile_id = profile_of(harness, "forget-me")["profile_id"]
    # WHEN the person is erased (the erasure deletes membership items itself) and the tombstone is replayed
    get_privacy_service().erase(profile_id)
    harness.pump.drain()
    assert sizes(harness)[CART] == 1
    event = profiles_stream_event(harness)
    handler = harness.app.handler_map["update_segment_members"]
    assert handler({"Records": event["Records"][-1:]}, None) == {"batchItemFailures": []}
    assert handler(event, None) == {"batchItemFailures": []}
    harness.pump.drain()  # the replay re-creates the item on its way and deletes it again: +1 and -1
    # THEN the size counts only the remaining member
    assert sizes(harness)[CART] == 1
    assert [m["profile_id"] for m in members(harness, CART)["items"]] != [profile_id]


def test_sizes_stay_exact_when_a_member_leaves_and_enters_again(harness: Harness) -> None:
    from datetime import UTC, datetime, timedelta

    from chalicelib.shared.clock import FakeClock, set_clock  # the autouse fixture puts the real one back

    clock = FakeClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    set_clock(clock)
    # GIVEN two abandoners, one of whom buys (leaves) and, two days later, fills a cart again (enters again)
    add_to_cart(harness, "again-1")
    add_to_cart(harness, "again-2")
    harness.pump.drain()
    order(harness, "again-1", "o-again")
    harness.pump.drain()
    assert sizes(harness)[CART] == 1
    clock.advance(timedelta(days=2))
    add_to_cart(harness, "again-1", product="sku-2")
    harness.pump.drain()
    # THEN the size is the number of membership items
    listed = members(harness, CART)
    assert len(listed["items"]) == 2 and listed["size"] == 2 and sizes(harness)[CART] == 2


def test_a_redelivered_members_stream_batch_is_counted_once(harness: Harness) -> None:
    from chalicelib.bootstrap import get_segment_store

    # GIVEN three abandoners, counted from the members stream through the pump
    for anon in ("count-1", "count-2", "count-3"):
        add_to_cart(harness, anon)
    harness.pump.drain()
    assert sizes(harness)[CART] == 3
    event = profiles_stream_event(harness, "SegmentMembersTable")
    entries = [r for r in event["Records"] if r["dynamodb"]["Keys"]["segment_id"]["S"] == CART]
    assert [r["eventName"] for r in entries] == ["INSERT"] * 3 and "NewImage" not in entries[0]["dynamodb"]
    handler = harness.app.handler_map["count_segment_sizes"]
    # WHEN Lambda delivers the same batch again (a timeout after the write), twice
    for _ in range(2):
        assert handler(event, None) == {"batchItemFailures": []}
    # THEN nothing is counted again
    assert sizes(harness)[CART] == 3
    # WHEN one member leaves and the retry of the old batch arrives longer, carrying the exit as well
    store = get_segment_store()
    store.leave(CART, entries[0]["dynamodb"]["Keys"]["profile_id"]["S"])
    longer = profiles_stream_event(harness, "SegmentMembersTable")
    assert len(longer["Records"]) == len(event["Records"]) + 1
    assert handler(longer, None) == {"batchItemFailures": []}
    harness.pump.drain()  # and the pump delivers the exit in its own batch too
    # THEN the exit is counted once
    assert sizes(harness)[CART] == 2 == len(members(harness, CART)["items"])
