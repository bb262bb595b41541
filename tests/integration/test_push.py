"""Mobile push end to end on moto through the Chalice test client and the pump: devices registered the Segment way and
through /v1/devices, a push scenario defined through the admin API, SNS platform endpoints and their publishes, a
disabled endpoint retiring its token, and `Push Opened` in the report."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.scenario_support import (
    World,
    user_in,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
APNS = "ab" * 32
FCM = "dT3k:APA91b" + "Q" * 140
SCENARIO = "app_cart"
TEMPLATE = {
    "description": "Cart reminder in the app",
    "push": {
        "title": "{{ greeting }}",
        "body": "Your {{ cart[0].name }} is waiting",
        "deep_link": "shop://cart",
        "image_url": "https://img.shop.example/cart.png",
        "badge": 1,
        "data": {"campaign": "cart"},
    },
}
SCENARIO_BODY = {
    "id": SCENARIO,
    "name": "App cart",
    "when": {"type": "event", "event": "Product Added"},
    "steps": [{"type": "send", "id": "push_1", "channel": "push", "template": "app_cart_push"}],
    "marketing": True,
    "holdout_percent": 0,
}


def put(world: World, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    response = world.h.client.http.put(path, body=json.dumps(body), headers=AUTH)
    return response.status_code, json.loads(response.body)


def define_push_scenario(world: World) -> None:
    status, body = put(world, "/admin/definitions/template/app_cart_push", TEMPLATE)
    assert status in (200, 201), body
    status, body = put(world, f"/admin/definitions/scenario/{SCENARIO}", SCENARIO_BODY)
    assert status in (200, 201), body


def endpoints() -> dict[str, Any]:
    """moto's SNS platform endpoints by token, with the messages published to each."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return {e.token: e for e in sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].platform_endpoints.values()}


def registration(user: str) -> dict[str, Any]:
    return {"userId": user, "token": APNS, "platform": "ios", "enabled": True}


def app_user(world: World) -> str:
    user = user_in(SCENARIO, 0, holdout=False, prefix="app")
    world.customer(user, subscribe=False)
    # iOS: the app registers its token with the route (permission granted)
    response = world.h.post(
        "/v1/devices", {"userId": user, "token": APNS.upper(), "platform": "ios", "app": "com.shop", "enabled": True}
    )
    assert response.status_code == 200, response.body
    # Android: the token rides on the app's events (context.device), permission from its own track
    android = {"device": {"token": FCM, "type": "android"}, "app": {"namespace": "com.shop"}}
    world.send("/v1/track", {"userId": user, "event": "Push Notifications Enabled", "context": android})
    world.drain()
    return user


def test_a_push_scenario_reaches_every_device_once_with_each_platforms_payload(world: World) -> None:
    define_push_scenario(world)
    user = app_user(world)
    world.add_to_cart(user)
    world.drain()

    by_token = endpoints()
    assert set(by_token) == {APNS, FCM}
    [apns_message] = by_token[APNS].messages.values()
    [fcm_message] = by_token[FCM].messages.values()
    apns = json.loads(json.loads(apns_message)["APNS"])
    fcm = json.loads(json.loads(fcm_message)["GCM"])["fcmV1Message"]["message"]
    assert apns["aps"]["alert"] == {"title": "Hi Hana,", "body": "Your Linen Shirt is waiting"}
    assert apns["aps"]["mutable-content"] == 1 and apns["deep_link"] == "shop://cart"
    assert fcm["notification"]["image"] == "https://img.shop.example/cart.png" and fcm["data"]["deep_link"]
    [record] = [m for m in world.messages(user_profile_id(user)) if m.get("channel") == "push"]
    assert record["status"] == "sent" and apns["one2one_message_id"] == record["message_id"]

    # A redelivered step sends nothing more
    world.add_to_cart(user, product_id="sku-2", name="Cap")  # same run: already entered
    world.drain()
    assert sum(len(e.messages) for e in endpoints().values()) == 2

    # The app reports the open: counted once on the step's row, even when the event is sent twice
    opened = {"userId": user, "event": "Push Opened", "properties": {"one2one_message_id": record["message_id"]}}
    world.send("/v1/track", {**opened, "messageId": "open-1"})
    world.send("/v1/track", {**opened, "messageId": "open-2"})
    world.drain()
    report = world.h.json(world.h.admin(f"/admin/reports/scenarios/{SCENARIO}"))
    [row] = [r for r in report["rows"] if r["step"] == "push_1"]
    assert row["counters"]["sent"] == 1 and row["counters"]["human_opens"] == 1
    assert row["rates"]["human_open_rate"] == 1.0


def test_a_disabled_endpoint_retires_the_token_until_the_app_registers_it_again(world: World) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    define_push_scenario(world)
    user = user_in(SCENARIO, 0, holdout=False, prefix="gone")
    world.customer(user, subscribe=False)
    assert (
        world.h.post("/v1/devices", {"userId": user, "token": APNS, "platform": "ios", "enabled": True}).status_code
        == 200
    )
    world.drain()
    # GIVEN APNs rejected the token earlier: SNS disabled its endpoint
    from chalicelib.bootstrap import get_push_sender

    sender = get_push_sender()
    arn = sender._endpoint({"token": APNS, "platform": "ios", "app": ""})
    sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].set_endpoint_attributes(arn, {"Enabled": "false"})
    sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].platform_endpoints[arn].attributes["Enabled"] = False
    world.add_to_cart(user)
    world.drain()
    [record] = [m for m in world.messages(user_profile_id(user)) if m.get("channel") == "push"]
    assert record["status"] == "skipped" and record["reason"] == "endpoint_disabled"
    assert endpoints() == {}  # the endpoint was deleted with the retirement
    from chalicelib.bootstrap import get_push_tokens

    assert get_push_tokens().retired([APNS]) == {APNS}
    # WHEN the app registers the same token after a fresh permission grant THEN it is live again
    assert (
        world.h.post("/v1/devices", {"userId": user, "token": APNS, "platform": "ios", "enabled": True}).status_code
        == 200
    )
    assert get_push_tokens().retired([APNS]) == set()


def test_bad_tokens_and_platforms_are_400_naming_the_field(world: World) -> None:
    cases = [
        ({"userId": "u", "token": "xyz", "platform": "ios"}, "token"),
        ({"userId": "u", "token": APNS, "platform": "windows"}, "platform"),
        ({"userId": "u", "token": APNS, "platform": "android"}, "token"),
        ({"userId": "u", "token": APNS, "platform": "ios", "enabled": "yes"}, "enabled"),
    ]
    for body, field in cases:
        response = world.h.post("/v1/devices", body)
        assert response.status_code == 400 and json.loads(response.body)["field"] == field, body
    event = {"userId": "u", "event": "App Opened", "context": {"device": {"token": "nothex!", "type": "ios"}}}
    response = world.h.post("/v1/track", event)
    assert response.status_code == 400 and json.loads(response.body)["field"] == "context.device.token"
    assert world.h.post("/v1/devices", {"token": APNS, "platform": "ios", "userId": "u"}, auth=False).status_code == 401


def test_a_push_template_over_the_payload_limit_is_refused_at_definition(world: World) -> None:
    status, body = put(
        world,
        "/admin/definitions/template/huge",
        {"push": {"title": "t", "body": "b" * 3990, "data": {"x": "y" * 200}}},
    )
    assert status == 400 and "push.body" in json.dumps(body)


def test_a_push_broadcast_reaches_each_members_devices_once(world: World) -> None:
    from tests.integration.test_broadcasts import _api, _launch

    put(world, "/admin/definitions/template/app_cart_push", TEMPLATE)
    users = []
    for n in range(3):
        user = f"bcpush-{n}"
        world.customer(user, subscribe=False)
        token = f"{n:02d}" * 32
        registration = {"userId": user, "token": token, "platform": "ios", "enabled": True}
        assert world.h.post("/v1/devices", registration).status_code == 200
        world.add_to_cart(user)
        users.append(token)
    world.drain()
    draft = {"name": "App sale", "audience": {"segment": "cart_abandoners"}, "channel": "push"}
    status, created = _api(world, "POST", "/admin/broadcasts", {**draft, "template": "app_cart_push"})
    assert status == 201, created
    status, _ = _api(world, "POST", f"/admin/broadcasts/{created['id']}/schedule", {"at": "now"})
    assert status == 200
    _launch(world)
    _launch(world)
    by_token = endpoints()
    assert {token: len(by_token[token].messages) for token in users} == dict.fromkeys(users, 1)
    _, document = _api(world, "GET", f"/admin/broadcasts/{created['id']}")
    assert document["summary"]["sent"] == 3


def test_an_erasure_deletes_the_persons_push_endpoints_and_token_records(world: World) -> None:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    define_push_scenario(world)
    user = app_user(world)
    world.add_to_cart(user)
    world.drain()
    assert set(endpoints()) == {APNS, FCM}  # GIVEN both devices got a platform endpoint (and its token record)
    profile_id = user_profile_id(user)
    exported = world.h.json(world.h.admin(f"/admin/profiles/{profile_id}/export"))
    assert {row["token"] for row in exported["push_tokens"]} == {APNS, FCM}

    # WHEN the person is erased
    response = world.h.client.http.delete(f"/admin/profiles/{profile_id}", headers=AUTH)
    assert response.status_code == 200, response.body
    world.drain()

    # THEN SNS holds no endpoint of theirs and no table holds their tokens
    assert endpoints() == {}
    for logical_id in ("MessagesTable", "StateTable", "ProfilesTable"):
        items = client("dynamodb").scan(TableName=table_name(logical_id))["Items"]
        assert not any(APNS in json.dumps(item) or FCM in json.dumps(item) for item in items), logical_id
