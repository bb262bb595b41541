"""The uplift report's run conversions on moto: each order is recorded on the runs it converts (the `by_conversion`
index) once whatever the replays, an order outside a run's window counts nothing, and the report adds the counters of
conversions counted before the run records held them."""

from __future__ import annotations

from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.scenario_support import (
    World,
    capturing,
    holdout_report,
    user_in,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

CART = "cart_abandonment"


def _order(world: World, user: str, order_id: str, revenue: float) -> None:
    properties = {"order_id": order_id, "revenue": revenue}
    world.send("/v1/track", {"userId": user, "event": "Order Completed", "properties": properties})


def _enter(world: World, *users: str) -> None:
    for user in users:
        world.customer(user, email_address=f"{user}@example.com")
        world.add_to_cart(user)
    world.drain()


def test_replayed_orders_count_once_and_two_orders_in_the_window_count_twice(world: World) -> None:
    # GIVEN one held-out and one treated customer in the cart scenario
    held, treated = user_in(CART, 10, holdout=True), user_in(CART, 10, holdout=False, prefix="t")
    _enter(world, held, treated)
    # WHEN the held-out customer orders twice within the window, and the stream delivers every batch again
    captured, undo = capturing(world, "run_scenarios")
    try:
        world.advance(minutes=30)
        _order(world, held, "o-1", 40)
        world.advance(days=2)
        _order(world, held, "o-2", 60.5)
        world.drain()
    finally:
        undo()
    assert captured
    handler = world.h.app.handler_map["run_scenarios"]
    for event in captured:
        handler(event, None)
    world.drain()
    # THEN the holdout arm has two conversions and their revenue, once; the treated arm none
    holdout = holdout_report(world, CART)
    assert holdout["holdout"] == {"assigned": 1, "run_conversions": 2, "revenue": 100.5}
    assert holdout["treated"] == {"assigned": 1, "run_conversions": 0}


def test_an_order_after_the_window_counts_nothing(world: World) -> None:
    held, treated = user_in(CART, 10, holdout=True), user_in(CART, 10, holdout=False, prefix="t")
    _enter(world, held, treated)
    world.advance(days=8)  # the window is 7 days from entering the run
    _order(world, held, "o-late", 25)
    world.drain()
    holdout = holdout_report(world, CART)
    assert holdout["holdout"] == {"assigned": 1, "run_conversions": 0, "revenue": 0}


def test_conversions_counted_before_the_run_records_and_new_ones_add_up(world: World) -> None:
    from chalicelib.bootstrap import get_engagement_store

    # GIVEN conversions counted in the report rows by the former per-(order, run) transaction
    store = get_engagement_store()
    now = world.clock.now()
    store.count("assigned#legacy-1", CART, "*#treated#*", {"assigned": 1}, now)
    store.count("assigned#legacy-2", CART, "*#holdout#*", {"assigned": 1}, now)
    store.count("runconv#old-1#t1", CART, "*#treated#*", {"run_conversions": 1}, now)
    store.count("runconv#old-2#t2", CART, "*#holdout#*", {"run_conversions": 1, "revenue": 10}, now)
    # WHEN new customers of both arms enter and order
    held, treated = user_in(CART, 10, holdout=True), user_in(CART, 10, holdout=False, prefix="t")
    _enter(world, held, treated)
    world.advance(minutes=30)
    _order(world, held, "o-1", 40)
    _order(world, treated, "o-2", 70)
    world.drain()
    # THEN each arm's numbers are the counters plus the run records
    holdout = holdout_report(world, CART)
    assert holdout["holdout"] == {"assigned": 2, "run_conversions": 2, "revenue": 50}
    assert holdout["treated"] == {"assigned": 2, "run_conversions": 2}
    assert holdout["uplift"] is not None and holdout["uplift"]["diff"] == 0.0


def test_an_erased_persons_run_is_not_recreated_by_a_later_order(world: World) -> None:
    from chalicelib.bootstrap import get_engagement_store
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import get_settings

    # GIVEN a held-out customer who converted, then was erased
    held, other = user_in(CART, 10, holdout=True), user_in(CART, 10, holdout=True, prefix="b")
    _enter(world, held, other)
    world.advance(minutes=30)
    _order(world, held, "o-1", 40)
    _order(world, other, "o-2", 5)
    world.drain()
    assert holdout_report(world, CART)["holdout"]["run_conversions"] == 2
    [run_key] = [
        item
        for item in client("dynamodb").scan(TableName=get_settings().messages_table)["Items"]
        if item["sk"]["S"].startswith("run#")
        and item["pk"]["S"] == f"p#{user_profile_id(held)}"
        and item["scenario_id"]["S"] == CART
    ]
    response = world.h.client.http.delete(
        f"/admin/profiles/{user_profile_id(held)}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code == 200, response.body
    # WHEN an order of theirs reaches the recorder after the erasure (a late stream record)
    recorded = get_engagement_store().run_conversion(
        user_profile_id(held), run_key["sk"]["S"].removeprefix("run#"), CART, True, "web#o-3", 12
    )
    # THEN nothing is written back: their run, assignment and conversion are out of the report
    assert recorded == "gone"
    messages = client("dynamodb").get_item(
        TableName=get_settings().messages_table, Key={"pk": run_key["pk"], "sk": run_key["sk"]}
    )
    assert "Item" not in messages
    assert holdout_report(world, CART)["holdout"] == {"assigned": 1, "run_conversions": 1, "revenue": 5}
