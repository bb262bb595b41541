"""Catalog triggers end to end on moto: tracked interest -> catalog change -> catalog stream -> paced fan-out ->
the normal send path -> exactly one mail per interested person (none for buyers, none after interest expired)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.scenario_support import World, user_profile_id
from tests.integration.scenario_support import world_fixture as _world_fixture  # noqa: F401 - registers `world`

SHOP = "https://shop.example"
AUTH = {"Authorization": "Bearer test-admin-token", "Content-Type": "application/json"}


@pytest.fixture
def shop(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from chalicelib import bootstrap

    monkeypatch.setenv("ONE2ONE_CATALOG_HOSTS", SHOP)
    bootstrap.reset()
    yield world


def put_product(world: World, product_id: str, **fields: Any) -> Any:
    body = {"name": "Linen Shirt", "price": 4900, "currency": "JPY", "url": f"{SHOP}/p/{product_id}", **fields}
    response = world.h.client.http.put(f"/admin/catalog/products/{product_id}", body=json.dumps(body), headers=AUTH)
    assert response.status_code in (200, 201), response.body
    return json.loads(response.body)


def view(world: World, user: str, product_id: str, event: str = "Product Viewed") -> None:
    world.send("/v1/track", {"userId": user, "event": event, "properties": {"product_id": product_id}})


def buy(world: World, user: str, product_id: str) -> None:
    products = [{"product_id": product_id, "price": 4900, "quantity": 1}]
    world.send(
        "/v1/track",
        {"userId": user, "event": "Order Completed", "properties": {"order_id": f"o-{user}", "products": products}},
    )


def mails(world: World, subject_part: str) -> list[str]:
    # moto lists a raw message's recipient once per header it appears in: one address per message here
    return sorted(addr for m in world.outbox() if subject_part in m["subject"] for addr in set(m["to"]))


def test_low_stock_mails_each_interested_person_once_and_skips_buyers_and_expired_interest(shop: World) -> None:
    world = shop
    # GIVEN a product in stock, one person whose interest is older than 90 days, and three recent ones
    put_product(world, "p-1", stock=20)
    world.customer("old", email_address="old@example.com")
    view(world, "old", "p-1")
    world.drain()
    world.advance(days=91)
    for user in ("viewer", "carter", "buyer"):
        world.customer(user, email_address=f"{user}@example.com")
    view(world, "viewer", "p-1")
    view(world, "carter", "p-1", "Product Added")
    view(world, "buyer", "p-1")
    buy(world, "buyer", "p-1")
    world.drain()
    world.advance(days=1)  # the day's email caps are not what this test is about
    # WHEN the stock falls under the scenario's threshold (5)
    put_product(world, "p-1", stock=3)
    world.drain()
    # THEN exactly the recent, not-buying people got one "nearly gone" mail, with the catalog's name and URL
    assert mails(world, "Nearly gone") == ["carter@example.com", "viewer@example.com"]
    mail = next(m for m in world.outbox() if "Nearly gone" in m["subject"])
    assert "only 3 left" in mail["text"] and f"{SHOP}/p/p-1" in mail["text"]
    # WHEN the same stock is written again, and a lower stock still under the threshold
    put_product(world, "p-1", stock=3)
    put_product(world, "p-1", stock=2)
    world.drain()
    # THEN no new crossing: nobody is mailed twice
    assert mails(world, "Nearly gone") == ["carter@example.com", "viewer@example.com"]


def test_back_in_stock_reaches_interested_people_and_a_purchase_ends_a_waiting_run(
    shop: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import bootstrap

    monkeypatch.setenv("ONE2ONE_CATALOG_FANOUT_PER_MINUTE", "1")  # the second person waits a minute for their slot
    bootstrap.reset()
    world = shop
    put_product(world, "p-2", stock=0, name="Trail Shoes")
    for user in ("ann", "bob"):
        world.customer(user, email_address=f"{user}@example.com")
        view(world, user, "p-2", "Product Added to Wishlist")
    world.drain()
    world.advance(days=1)
    put_product(world, "p-2", stock=10, name="Trail Shoes")
    world.drain()
    [first] = mails(world, "back in stock")
    assert [m["subject"] for m in world.outbox() if "back in stock" in m["subject"]] == ["Trail Shoes is back in stock"]
    # WHEN the other person buys the product before their slot comes
    other = "bob" if first.startswith("ann") else "ann"
    world.advance(seconds=20)
    buy(world, other, "p-2")
    world.drain()
    world.advance(minutes=2)
    world.drain()
    # THEN their run ended on the purchase and nothing more was sent
    assert mails(world, "back in stock") == [first]
    runs = [r for r in world.runs(user_profile_id(other)) if r["scenario_id"] == "back_in_stock"]
    assert [(r["status"], r["exit_reason"]) for r in runs] == [("exited", "event:Order Completed")]


def test_price_drop_fires_once_when_the_threshold_is_crossed(shop: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import bootstrap
    from chalicelib.scenarios.loader import parse_scenario

    scenarios = bootstrap.get_scenarios()
    drop = parse_scenario(
        {
            "id": "price_drop",
            "name": "Price drop",
            "when": {"type": "price_drop", "percent": 10, "amount": 500},
            "steps": [{"type": "send", "channel": "email", "template": "low_stock"}],
            "reentry": "always",
        }
    )
    monkeypatch.setattr(bootstrap, "get_scenarios", lambda: [*scenarios, drop])
    bootstrap.reset()
    world = shop
    put_product(world, "p-3", price=10000, stock=50, name="Canvas Backpack")
    world.customer("cat", email_address="cat@example.com")
    view(world, "cat", "p-3")
    world.drain()
    world.advance(days=1)
    # 10000 -> 9500 (5 %): under the threshold; 9500 -> 9000 (10 % below the 30-day high and 1000 off): crossed
    put_product(world, "p-3", price=9500, stock=50, name="Canvas Backpack")
    world.drain()
    assert mails(world, "Nearly gone") == []
    put_product(world, "p-3", price=9000, stock=50, name="Canvas Backpack")
    world.drain()
    assert mails(world, "Nearly gone") == ["cat@example.com"]
    # a further cut below an announced drop is not news
    put_product(world, "p-3", price=8800, stock=50, name="Canvas Backpack")
    world.drain()
    assert mails(world, "Nearly gone") == ["cat@example.com"]
    product = json.loads(world.h.admin("/admin/catalog/products/p-3").body)
    assert [p["price"] for p in product["price_history"]] == [10000, 9500, 9000, 8800]


def test_fan_out_releases_at_most_the_cap_per_minute(shop: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import bootstrap

    monkeypatch.setenv("ONE2ONE_CATALOG_FANOUT_PER_MINUTE", "2")
    bootstrap.reset()
    world = shop
    put_product(world, "p-4", stock=20)
    users = [f"fan-{n}" for n in range(5)]
    for user in users:
        world.customer(user, email_address=f"{user}@example.com")
        view(world, user, "p-4")
    world.drain()
    world.advance(days=1)
    put_product(world, "p-4", stock=1)
    world.drain()
    sent = [len(mails(world, "Nearly gone"))]
    for _ in range(3):
        world.advance(minutes=1)
        world.drain()
        sent.append(len(mails(world, "Nearly gone")))
    # two a minute, then the rest, and every one exactly once
    assert sent == [2, 4, 5, 5]
    assert mails(world, "Nearly gone") == sorted(f"{u}@example.com" for u in users)


def interest_items(world: World) -> list[tuple[str, str]]:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import get_settings

    items = client("dynamodb").scan(TableName=get_settings().state_table)["Items"]
    return sorted((i["pk"]["S"], i["sk"]["S"]) for i in items if i["pk"]["S"].startswith("interest#"))


def test_an_anonymous_viewer_is_indexed_once_they_give_an_email_and_then_hears_of_the_price_drop(
    shop: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import bootstrap
    from chalicelib.scenarios.loader import parse_scenario

    scenarios = bootstrap.get_scenarios()
    drop = parse_scenario(
        {
            "id": "price_drop",
            "name": "Price drop",
            "when": {"type": "price_drop", "percent": 10},
            "steps": [{"type": "send", "channel": "email", "template": "low_stock"}],
        }
    )
    monkeypatch.setattr(bootstrap, "get_scenarios", lambda: [*scenarios, drop])
    bootstrap.reset()
    world = shop
    put_product(world, "p-5", price=10000, stock=50, name="Wool Scarf")
    # GIVEN an anonymous visitor who looks at the scarf: nobody an email scenario could reach, so nothing is indexed
    world.send("/v1/track", {"anonymousId": "anon-dee", "event": "Product Viewed", "properties": {"product_id": "p-5"}})
    world.drain()
    assert interest_items(world) == []
    # WHEN, a day later, they sign up on the same browser with their email (and subscribe)
    world.advance(days=1)
    world.send("/v1/identify", {"anonymousId": "anon-dee", "userId": "dee", "traits": {"email": "dee@example.com"}})
    world.send("/v1/track", {"anonymousId": "anon-dee", "userId": "dee", "event": "Email Subscribed"})
    world.drain()
    # THEN their earlier view is indexed under the profile they now have
    [(pk, profile_id)] = interest_items(world)
    assert pk == "interest#p-5"
    # WHEN the scarf's price drops by 20 %
    world.advance(days=1)
    put_product(world, "p-5", price=8000, stock=50, name="Wool Scarf")
    world.drain()
    # THEN they get the price-drop mail
    assert mails(world, "Nearly gone") == ["dee@example.com"]
    assert [r["scenario_id"] for r in world.runs(profile_id)] == ["price_drop"]
