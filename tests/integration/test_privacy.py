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
        IndexName="by_profile",
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
    item = client("dynamodb").get_item(TableName=table_name("EventsTable"), Key={"pk": {"S": "web#in-flight"}})
    assert "Item" not in item


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
