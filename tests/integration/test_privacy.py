"""Right of access and right to erasure: everything about a person is exported, then erased by key for good."""

from __future__ import annotations

from tests.integration.conftest import Harness


def send(h: Harness, path: str, body: dict, **kw) -> None:
    assert h.post(path, body, **kw).status_code == 200


def known_customer(h: Harness) -> str:
    send(h, "/v1/page", {"anonymousId": "priv-anon", "name": "Home"})
    h.pump.drain()
    send(h, "/v1/identify", {"anonymousId": "priv-anon", "userId": "priv-user", "traits": {"email": "p@example.com"}})
    send(h, "/v1/track", {"userId": "priv-user", "event": "Product Added", "properties": {"product_id": "x"}})
    h.pump.drain()
    return h.json(h.admin("/admin/profiles?user_id=priv-user"))["profile_id"]


def delete(h: Harness, path: str):
    return h.client.http.delete(path, headers={"Authorization": "Bearer test-admin-token"})


def test_export_returns_everything_held_about_the_person(harness: Harness) -> None:
    profile_id = known_customer(harness)
    response = harness.admin(f"/admin/profiles/{profile_id}/export")
    assert response.status_code == 200
    export = harness.json(response)
    assert export["profile"]["user_id"] == "priv-user"
    assert {"user:priv-user", "email:p@example.com", "anon:priv-anon"} <= set(export["identities"])
    names = [e.get("event") or e["type"] for e in export["events"]]
    assert "page" in names and "Product Added" in names and "identify" in names
    assert export["merged_profile_ids"]  # the anonymous profile merged into this one


def test_erasure_removes_every_item_by_key_and_late_events_cannot_resurrect(harness: Harness) -> None:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    profile_id = known_customer(harness)
    response = delete(harness, f"/admin/profiles/{profile_id}")
    assert response.status_code == 200
    assert harness.json(response)["deleted"]["events"] >= 3
    harness.pump.drain()
    ddb = client("dynamodb")
    # THEN a query by any of that person's keys finds nothing (their tombstones are kept under a keyed hash)
    for key in ("user:priv-user", "email:p@example.com", "anon:priv-anon"):
        assert "Item" not in ddb.get_item(TableName=table_name("IdentitiesTable"), Key={"key": {"S": key}})
    events = ddb.query(
        TableName=table_name("EventsTable"),
        KeyConditionExpression="profile_id = :p",
        ExpressionAttributeValues={":p": {"S": profile_id}},
    )
    assert events["Items"] == []
    assert harness.admin(f"/admin/profiles/{profile_id}").status_code == 404
    assert harness.admin("/admin/profiles?user_id=priv-user").status_code == 404
    # AND late events from the same person are dropped, not folded into a new profile
    send(harness, "/v1/track", {"anonymousId": "priv-anon", "event": "Product Viewed"})
    send(harness, "/v1/track", {"userId": "priv-user", "event": "Product Viewed"})
    harness.pump.drain()
    assert harness.admin("/admin/profiles?anonymous_id=priv-anon").status_code == 404
    assert harness.admin("/admin/profiles?user_id=priv-user").status_code == 404


def test_events_in_flight_during_erasure_are_deleted_by_the_fold(harness: Harness) -> None:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    profile_id = known_customer(harness)
    send(harness, "/v1/track", {"userId": "priv-user", "event": "Cart Viewed", "messageId": "in-flight"})
    assert delete(harness, f"/admin/profiles/{profile_id}").status_code == 200
    harness.pump.drain()
    found = client("dynamodb").scan(
        TableName=table_name("EventsTable"),
        FilterExpression="pk = :k",
        ExpressionAttributeValues={":k": {"S": "web#in-flight"}},
    )
    assert found["Items"] == []


def test_erasure_of_an_unknown_id_is_404_and_touches_nothing(harness: Harness) -> None:
    send(harness, "/v1/track", {"anonymousId": "bystander", "event": "Signed Up"})
    harness.pump.drain()
    before = (
        harness.scan_count("EventsTable"),
        harness.scan_count("ProfilesTable"),
        harness.scan_count("IdentitiesTable"),
    )
    assert delete(harness, "/admin/profiles/p_does_not_exist").status_code == 404
    assert harness.admin("/admin/profiles/p_does_not_exist/export").status_code == 404
    after = (
        harness.scan_count("EventsTable"),
        harness.scan_count("ProfilesTable"),
        harness.scan_count("IdentitiesTable"),
    )
    assert before == after


def test_privacy_routes_need_the_admin_token(harness: Harness) -> None:
    assert harness.client.http.delete("/admin/profiles/p_x").status_code == 401
    assert harness.client.http.get("/admin/profiles/p_x/export").status_code == 401


VICTIM = {
    "email": "victim.erasure@example.com",
    "user": "victim-user-7731",
    "anon": "victim-anon-5512",
    "phone": "+14155550199",
    "name": "Zebulon Quickfeather",
}


def victim_everywhere(h: Harness) -> str:
    """A person with events, a merge, segment memberships, bad rows, an unlinked (GPC) event and a suppression."""
    from datetime import UTC, datetime

    from chalicelib.bootstrap import get_message_store

    send(h, "/v1/page", {"anonymousId": VICTIM["anon"], "name": "Home"})
    h.pump.drain()
    traits = {"email": VICTIM["email"], "phone": VICTIM["phone"], "name": VICTIM["name"]}
    send(h, "/v1/identify", {"anonymousId": VICTIM["anon"], "userId": VICTIM["user"], "traits": traits})
    send(h, "/v1/track", {"userId": VICTIM["user"], "event": "Order Completed", "properties": {"revenue": 50}})
    # in-app state: a dismissal is remembered
    dismissed = {"message_id": "free_shipping_banner"}
    send(h, "/v1/track", {"userId": VICTIM["user"], "event": "In-App Message Dismissed", "properties": dismissed})
    # refused messages that still name them (kept as bad rows)
    assert h.post("/v1/track", {"userId": VICTIM["user"], "properties": {"x": 1}}).status_code == 400
    bad = {"anonymousId": VICTIM["anon"], "traits": {"email": VICTIM["email"], "name": VICTIM["name"]}}
    assert h.post("/v1/identify", bad | {"timestamp": "not a time", "context": {"ip": []}}).status_code in (200, 400)
    # an event unlinked for Global Privacy Control that still carries their name in its properties
    gpc = {
        "userId": VICTIM["user"],
        "event": "Viewed",
        "properties": {"name": VICTIM["name"], "email": VICTIM["email"]},
    }
    send(h, "/v1/track", gpc, headers={"Sec-GPC": "1"})
    h.pump.drain()
    get_message_store().suppress("email", VICTIM["email"], "complaint", datetime.now(UTC))
    return h.json(h.admin(f"/admin/profiles?user_id={VICTIM['user']}"))["profile_id"]


def _every_item_text() -> dict[str, str]:
    """Test-only: every item of every table, as text (the product itself never scans)."""
    import json

    from chalicelib.profiles.codec import body_json
    from chalicelib.shared.aws import client
    from chalicelib.tracking import event_codec

    def text(item: dict) -> str:
        # Profile and event bodies are stored compressed: read them as the documents they are, or the scan would
        # see nothing of them.
        body = body_json(item) if "B" in item.get("body", {}) else ""
        if event_codec.ATTRIBUTE in item:
            body += b"\n".join(event_codec.bodies(item)).decode()  # one event's, or a group's
        return json.dumps(item, default=str) + body

    ddb = client("dynamodb")
    out: dict[str, str] = {}
    for table in ddb.list_tables()["TableNames"]:
        out[table] = "\n".join(text(i) for i in ddb.scan(TableName=table)["Items"])
    return out


def test_after_erasure_nothing_of_the_person_is_findable_in_any_table(harness: Harness) -> None:
    from chalicelib.tracking.identity import profile_id_for

    # GIVEN a person whose data reached every table, bad rows and unlinked events included
    profile_id = victim_everywhere(harness)
    before = _every_item_text()
    assert any(VICTIM["email"] in text for text in before.values())
    assert any(VICTIM["name"] in text for text in before.values())
    # WHEN they are erased
    response = delete(harness, f"/admin/profiles/{profile_id}")
    assert response.status_code == 200
    deleted = harness.json(response)["deleted"]
    assert deleted["failed_events"] >= 1 and deleted["unlinked_events"] == 1
    harness.pump.drain()
    # AND late events arrive under each of their ids
    send(harness, "/v1/track", {"anonymousId": VICTIM["anon"], "event": "Late"})
    send(harness, "/v1/track", {"userId": VICTIM["user"], "event": "Late"})
    send(harness, "/v1/identify", {"anonymousId": "new-device-1", "traits": {"email": VICTIM["email"]}})
    harness.pump.drain()
    # THEN no table holds their email, userId, anonymousId, phone or name
    after = _every_item_text()
    for table, text in after.items():
        for needle in VICTIM.values():
            assert needle not in text, f"{needle!r} still in {table}"
    # AND the profile ids derived from their ids (an unkeyed hash, profile_id_for) are left only on tombstones
    derived = [profile_id_for(kind, VICTIM[kind]) for kind in ("user", "anon")]  # type: ignore[arg-type]
    for table, text in after.items():
        for line in text.splitlines():
            if any(pid in line for pid in derived):
                assert table.endswith("profiles") and '"stage": {"S": "erased"}' in line, (table, line[:300])
    assert harness.admin(f"/admin/profiles?user_id={VICTIM['user']}").status_code == 404
    assert harness.admin(f"/admin/profiles?email={VICTIM['email']}").status_code == 404


def test_export_has_a_section_for_everything_erasure_deletes(harness: Harness) -> None:
    profile_id = victim_everywhere(harness)
    export = harness.json(harness.admin(f"/admin/profiles/{profile_id}/export"))
    assert export["failed_events"] and export["unlinked_events"]
    assert export["in_app"][0]["d"] == {"free_shipping_banner": export["in_app"][0]["d"]["free_shipping_banner"]}
    assert any(row.get("reason") == "complaint" for row in export["messages"])  # the suppression
    deleted = harness.json(delete(harness, f"/admin/profiles/{profile_id}"))["deleted"]
    missing = [name for name, count in deleted.items() if count and not export.get(name)]
    assert missing == [], f"erased but not exported: {missing}"
    assert set(deleted) <= set(export)


def test_memberships_of_a_disabled_segment_and_of_one_no_longer_defined_are_exported_and_erased(
    harness: Harness,
) -> None:
    import json

    from chalicelib.bootstrap import get_segment_store
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    # GIVEN a segment created through the admin API, and a person on its plan with a cart: in it and in cart_abandoners
    headers = {"Authorization": "Bearer test-admin-token", "Content-Type": "application/json"}
    gold = {"name": "gold_plan", "rule": {"field": "traits.plan", "op": "eq", "value": "gold"}}
    created = harness.client.http.put("/admin/definitions/segment/gold_plan", body=json.dumps(gold), headers=headers)
    assert created.status_code == 201
    send(harness, "/v1/identify", {"userId": "seg-user", "traits": {"email": "seg@example.com", "plan": "gold"}})
    send(harness, "/v1/track", {"userId": "seg-user", "event": "Product Added", "properties": {"product_id": "x"}})
    harness.pump.drain()
    profile_id = harness.json(harness.admin("/admin/profiles?user_id=seg-user"))["profile_id"]
    # AND that segment disabled since (its members leave at their next fold: this person has had none)
    disabled = harness.client.http.post("/admin/definitions/segment/gold_plan/disable", headers=headers)
    assert disabled.status_code == 200
    # AND a membership of a segment no longer defined (dropped from segments.json by a later deploy, its members not
    # folded since), written just now: its size not counted yet
    get_segment_store().enter("retired_segment", profile_id, "2026-01-01T00:00:00.000Z", 1)
    # WHEN the person asks for their data, THEN every membership is listed
    export = harness.json(harness.admin(f"/admin/profiles/{profile_id}/export"))
    memberships = {"cart_abandoners", "gold_plan", "retired_segment"}
    assert set(export["segments"]) == memberships
    # WHEN they are erased (before the tombstone's exits run: the erasure itself deletes the items)
    deleted = harness.json(delete(harness, f"/admin/profiles/{profile_id}"))["deleted"]
    assert deleted["segment_memberships"] == len(memberships)
    # THEN no membership item of theirs is left
    ddb = client("dynamodb")
    for segment_id in memberships:
        key = {"segment_id": {"S": segment_id}, "profile_id": {"S": profile_id}}
        found = ddb.get_item(TableName=table_name("SegmentMembersTable"), Key=key, ConsistentRead=True)
        assert "Item" not in found, segment_id
