"""Catalog trigger rules: which catalog changes fire which trigger, thresholds, and interest from events."""

from __future__ import annotations

from datetime import datetime

import pytest

from chalicelib.catalog import ProductChange, StoredProduct
from chalicelib.catalog.model import PricePoint, Product
from chalicelib.scenarios.catalog_triggers import ANYONE, Route, fires, interest_routes, interest_updates, reachable
from chalicelib.scenarios.definitions import Scenario
from chalicelib.scenarios.exceptions import ScenarioConfigError
from chalicelib.scenarios.loader import parse_scenario
from chalicelib.tracking.events import TrackedEvent


def product(
    version: int, stock: int | None = 10, price: float = 100, history: list[float] | None = None, **kw: object
) -> StoredProduct:
    at = f"2026-03-{version:02d}T00:00:00.000Z"
    prices = history if history is not None else [price]
    points = tuple(
        PricePoint(at=f"2026-03-{n + 1:02d}T00:00:00.000Z", price=p, currency="EUR") for n, p in enumerate(prices)
    )
    fields = {"id": "p1", "name": "Tee", "price": price, "currency": "EUR", "stock": stock, "updated_at": at, **kw}
    return StoredProduct(Product.model_validate(fields), version, points)


def when(**trigger: object) -> object:
    steps = [{"type": "send", "channel": "email", "template": "t"}]
    return parse_scenario({"id": "s", "name": "S", "when": trigger, "steps": steps}).when


def test_back_in_stock_fires_on_the_way_back_only() -> None:
    trigger = when(type="back_in_stock")
    assert fires(trigger, ProductChange(product(1, stock=0), product(2, stock=4)))
    assert not fires(trigger, ProductChange(product(1, stock=2), product(2, stock=4)))
    assert not fires(trigger, ProductChange(product(1, stock=4), product(2, stock=0)))
    assert not fires(trigger, ProductChange(None, product(1, stock=4)))  # a new product: nobody waited
    out = product(1, stock=None, availability="out_of_stock")
    assert fires(trigger, ProductChange(out, product(2, stock=None, availability="in_stock")))


@pytest.mark.parametrize(
    ("before", "after", "fired"),
    [(10, 4, True), (5, 4, True), (10, 5, False), (4, 3, False), (10, 0, False), (None, 2, True)],
)
def test_low_stock_fires_when_the_stock_crosses_under_the_threshold(
    before: int | None, after: int, fired: bool
) -> None:
    assert (
        fires(when(type="low_stock", below=5), ProductChange(product(1, stock=before), product(2, stock=after)))
        is fired
    )


@pytest.mark.parametrize(
    ("history", "new", "threshold", "fired"),
    [
        ([100], 90, {"percent": 10}, True),
        ([100], 91, {"percent": 10}, False),
        ([100], 95, {"amount": 5}, True),
        ([100], 92, {"percent": 5, "amount": 10}, False),  # both must hold
        ([100, 95], 90, {"percent": 10}, True),  # small steps add up against the 30-day high
        ([100, 90], 85, {"percent": 10}, False),  # already announced at 90
    ],
)
def test_price_drop_thresholds(history: list[float], new: float, threshold: dict, fired: bool) -> None:
    old = product(len(history), price=history[-1], history=history)
    after = product(len(history) + 1, price=new, history=[*history, new])
    assert fires(when(type="price_drop", **threshold), ProductChange(old, after)) is fired


def test_a_price_drop_of_an_unavailable_product_or_in_another_currency_does_not_fire() -> None:
    trigger = when(type="price_drop", percent=10)
    assert not fires(trigger, ProductChange(product(1, price=100), product(2, price=50, stock=0)))
    assert not fires(trigger, ProductChange(product(1, price=100), product(2, price=50, currency="USD")))


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ({"type": "price_drop"}, "percent"),
        ({"type": "low_stock"}, "below"),
        ({"type": "low_stock", "below": 0}, "greater than 0"),
        ({"type": "back_in_stock", "within": "400d"}, "365d"),
        ({"type": "back_in_stock", "interest": ["liked"]}, "viewed"),
    ],
)
def test_bad_catalog_triggers_are_refused(trigger: dict, message: str) -> None:
    with pytest.raises(ScenarioConfigError, match=message):
        when(**trigger)


def event(name: str, at: str, **properties: object) -> TrackedEvent:
    when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return TrackedEvent(
        message_id=f"{name}-{at}",
        source_id="web",
        type="track",
        profile_id="p",
        timestamp=when,
        received_at=when,
        event=name,
        properties=dict(properties),
    )


def test_interest_from_views_carts_and_wishlists_and_a_purchase_forgets() -> None:
    signals, bought = interest_updates(
        [
            event("Product Viewed", "2026-03-02T01:00:00Z", product_id="p1"),
            event("Product Added", "2026-03-02T01:01:00Z", product_id="p2"),
            event("Product Added to Wishlist", "2026-03-02T01:02:00Z", product_id="p3"),
            event("Order Completed", "2026-03-02T01:03:00Z", products=[{"product_id": "p2"}]),
            event("Product Viewed", "2026-03-02T01:04:00Z", product_id="p3"),
            event("Page Viewed", "2026-03-02T01:05:00Z", product_id="p4"),
        ]
    )
    assert sorted((s.product_id, s.kind) for s in signals) == [("p1", "viewed"), ("p3", "viewed")]
    assert bought == {"p2"}


def test_only_the_signs_of_interest_an_enabled_scenario_asks_for_are_recorded() -> None:
    from chalicelib.scenarios.catalog_triggers import interest_kinds

    steps = [{"type": "send", "channel": "email", "template": "t"}]
    carted_only = parse_scenario(
        {"id": "s", "name": "S", "when": {"type": "low_stock", "below": 3, "interest": ["carted"]}, "steps": steps}
    )
    kinds = interest_kinds([carted_only])
    assert kinds == {"carted"}
    signals, bought = interest_updates(
        [
            event("Product Viewed", "2026-03-02T01:00:00Z", product_id="p1"),
            event("Product Added", "2026-03-02T01:01:00Z", product_id="p2"),
            event("Order Completed", "2026-03-02T01:03:00Z", products=[{"product_id": "p1"}]),
        ],
        kinds,
    )
    assert [(s.product_id, s.kind) for s in signals] == [("p2", "carted")]
    assert bought == {"p1"}  # a purchase still forgets whatever was recorded before
    both = parse_scenario({"id": "b", "name": "B", "when": {"type": "back_in_stock"}, "steps": steps})
    assert interest_kinds([carted_only, both]) == {"viewed", "carted", "wishlisted"}


def catalog(channels: list[str], marketing: bool = True, **trigger: object) -> Scenario:
    steps: list[dict[str, object]] = [{"type": "wait", "duration": "1h"}]
    for channel in channels:
        step: dict[str, object] = {"type": "send", "channel": channel, "template": "t"}
        if channel == "sales_alert":
            step["topic"] = "sales"
        if channel == "webhook":
            step = {"type": "send", "channel": channel, "url": "https://hooks.example/retarget"}
        steps.append(step)
    when = {"type": "back_in_stock", **trigger}
    return parse_scenario(
        {
            "id": f"s-{'-'.join(channels) or 'none'}",
            "name": "S",
            "when": when,
            "steps": steps,
            "marketing": marketing,
            "topic": "recommendations",
        }
    )


def test_interest_routes_are_how_the_enabled_catalog_scenarios_send() -> None:
    email_then_sms = catalog(["email", "sms"])
    in_app = catalog(["in_app"]).model_copy(update={"enabled": False})
    cart = parse_scenario(
        {
            "id": "cart",
            "name": "Cart",
            "when": {"type": "event", "event": "Product Added"},
            "steps": [{"type": "send", "channel": "push", "template": "t"}],
        }
    )
    topic = "recommendations"
    assert interest_routes([email_then_sms, in_app, cart]) == {
        Route("email", True, topic),
        Route("sms", True, topic),
    }
    assert interest_routes([catalog(["email", "in_app"], marketing=False)]) == {Route("email"), Route("in_app")}
    assert interest_routes([catalog(["webhook"])]) == {Route("webhook")}  # consent is for the person's own channels
    assert interest_routes([catalog([])]) == {Route(ANYONE)}  # no send step: its runs are for everyone it starts
    assert interest_routes([cart]) == frozenset()


EMAIL_IN = {"email": {"status": "opted_in", "at": "2026-03-01T00:00:00Z"}}


@pytest.mark.parametrize(
    ("profile", "routes", "expected"),
    [
        ({}, {Route("email"), Route("sms"), Route("push")}, False),  # an anonymous visitor
        ({"email": "ann@example.com"}, {Route("email")}, True),
        ({"traits": {"email": "ann@example.com"}}, {Route("email")}, True),
        ({"email": "not-an-address"}, {Route("email")}, False),
        ({"email": "ann@example.com"}, {Route("sms")}, False),
        ({"traits": {"phone": "+44 7700 900123"}}, {Route("sms")}, True),
        ({"devices": {"tok": {"at": 5, "enabled": True}}}, {Route("push")}, True),
        ({"devices": {"tok": {"at": 5, "removed_at": 6}}}, {Route("push")}, False),
        ({"devices": {"tok": {"at": 5, "enabled": False}}}, {Route("push")}, False),  # notifications turned off
        ({}, {Route("email"), Route("in_app")}, True),  # in-app reaches anonymous visitors
        ({}, {Route("webhook")}, True),
        ({}, {Route(ANYONE)}, True),
        ({"email": "ann@example.com"}, set(), False),  # no catalog scenario sends anything
        # marketing needs the channel's consent (opt-in: unknown is no) and no opt-out of the scenario's topic
        ({"email": "ann@example.com"}, {Route("email", True)}, False),
        ({"email": "ann@example.com", "consent": EMAIL_IN}, {Route("email", True, "recs")}, True),
        (
            {"email": "ann@example.com", "consent": {**EMAIL_IN, "topics": {"recs": {"status": "opted_out"}}}},
            {Route("email", True, "recs")},
            False,
        ),
        ({"consent": EMAIL_IN}, {Route("email", True)}, False),  # consent is no address
        ({"email": "ann@example.com", "consent": EMAIL_IN}, {Route("sms", True)}, False),
    ],
)
def test_reachable_needs_an_address_and_for_marketing_consent_or_a_channel_that_needs_neither(
    profile: dict, routes: set[Route], expected: bool
) -> None:
    assert reachable(profile, routes) is expected


def body(
    views: dict[str, str] | None = None,
    cart: dict[str, dict[str, float]] | None = None,
    purchased: dict[str, float] | None = None,
    **fields: object,
) -> dict[str, object]:
    viewed = [{"product_id": pid, "at": at} for pid, at in sorted((views or {}).items(), key=lambda kv: kv[1])[::-1]]
    return {
        "profile_id": "p",
        "computed": {"viewed_products": viewed},
        "activity": {"cart": cart or {}, "purchased": purchased or {}},
        **fields,
    }


def epoch(at: str) -> float:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


SINCE = datetime.fromisoformat("2026-03-01T00:00:00+00:00")
ALL_KINDS = {"viewed", "carted", "wishlisted"}


def test_held_interest_is_the_recent_views_and_open_cart_lines_not_bought_since() -> None:
    from chalicelib.scenarios.catalog_triggers import held_interest

    profile = body(
        views={"p1": "2026-03-02T10:00:00.000Z", "p2": "2026-03-02T11:00:00.000Z", "old": "2026-02-01T00:00:00.000Z"},
        cart={
            "c1": {"q": 2, "at": epoch("2026-03-03T09:00:00Z"), "info_at": epoch("2026-03-03T08:00:00Z")},
            "gone": {"q": 0, "at": epoch("2026-03-03T09:00:00Z")},  # removed again
            "c2": {"q": 1, "at": epoch("2026-03-03T07:00:00Z")},
        },
        purchased={"p2": epoch("2026-03-02T11:00:00Z"), "p1": epoch("2026-03-01T00:00:00Z")},
    )
    signals = held_interest(profile, None, ALL_KINDS, SINCE)
    assert [(s.product_id, s.kind, s.at.isoformat()) for s in signals] == [
        ("p1", "viewed", "2026-03-02T10:00:00+00:00"),  # bought before this view: interest again
        ("c1", "carted", "2026-03-03T08:00:00+00:00"),  # its latest add, not the latest change
        ("c2", "carted", "2026-03-03T07:00:00+00:00"),
    ]  # p2 bought at the view's instant, `old` outside the window, `gone` has nothing left in the cart
    assert [s.kind for s in held_interest(profile, None, {"carted"}, SINCE)] == ["carted", "carted"]


def test_held_interest_against_a_baseline_is_only_what_it_lacked_or_had_older() -> None:
    from chalicelib.scenarios.catalog_triggers import held_interest

    before = body(views={"p1": "2026-03-02T10:00:00.000Z", "p2": "2026-03-02T10:00:00.000Z"})
    after = body(
        views={"p1": "2026-03-02T10:00:00.000Z", "p2": "2026-03-04T10:00:00.000Z", "p3": "2026-03-03T10:00:00.000Z"}
    )
    signals = held_interest(after, before, ALL_KINDS, SINCE)
    assert sorted(s.product_id for s in signals) == ["p2", "p3"]


def test_interest_backfill_only_when_the_profile_becomes_reachable_or_a_merge_brings_interest() -> None:
    from chalicelib.scenarios.catalog_triggers import interest_backfill

    views = {"p1": "2026-03-02T10:00:00.000Z"}
    anonymous = body(views=views)
    known = body(views=views, email="ann@example.com")
    email = {Route("email")}
    # an anonymous version brings nothing; the version that gave it an email brings its earlier views
    assert interest_backfill(anonymous, None, email, ALL_KINDS, SINCE) == []
    assert [s.product_id for s in interest_backfill(known, anonymous, email, ALL_KINDS, SINCE)] == ["p1"]
    assert [s.product_id for s in interest_backfill(known, None, email, ALL_KINDS, SINCE)] == ["p1"]
    # an already reachable profile's next version: its new events speak for themselves
    assert interest_backfill(known, known, email, ALL_KINDS, SINCE) == []
    # a merge into a reachable profile brings what the merged-in profile had
    merged = body(views={**views, "p9": "2026-03-03T10:00:00.000Z"}, email="ann@example.com", merged_from=["anon-1"])
    assert [s.product_id for s in interest_backfill(merged, known, email, ALL_KINDS, SINCE)] == ["p9"]
    # an in-app scenario reaches anonymous visitors: their interest was written all along
    assert interest_backfill(anonymous, anonymous, {Route("in_app")}, ALL_KINDS, SINCE) == []
    # consent given later makes a known address reachable for a marketing send: what the profile kept comes in
    subscribed = body(views=views, email="ann@example.com", consent=EMAIL_IN)
    marketing = {Route("email", True)}
    assert interest_backfill(known, anonymous, marketing, ALL_KINDS, SINCE) == []
    assert [s.product_id for s in interest_backfill(subscribed, known, marketing, ALL_KINDS, SINCE)] == ["p1"]
