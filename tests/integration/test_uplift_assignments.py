"""The uplift report's assignments on moto: the run records are the assignments (the `by_assignment` index), so the
report counts every person once per arm whatever the replays, adds the counter of runs started before the index,
and loses an erased person's assignment with their runs."""

from __future__ import annotations

import json
from collections import Counter

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


def _erase(world: World, user: str) -> None:
    response = world.h.client.http.delete(
        f"/admin/profiles/{user_profile_id(user)}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code == 200, response.body


def test_a_replayed_scenario_batch_assigns_each_person_once_and_the_scenario_is_listed(world: World) -> None:
    # GIVEN one customer held out of the cart scenario and one treated, both adding to the cart
    held, treated = user_in(CART, 10, holdout=True), user_in(CART, 10, holdout=False, prefix="t")
    captured, undo = capturing(world, "run_scenarios")
    try:
        for user in (held, treated):
            world.customer(user, email_address=f"{user}@example.com")
            world.add_to_cart(user)
        world.drain()
    finally:
        undo()
    assert captured
    # WHEN Lambda delivers every batch again (a timeout after the runs were written), then all as one batch
    handler = world.h.app.handler_map["run_scenarios"]
    for event in captured:
        handler(event, None)
    handler({"Records": [r for event in captured for r in event["Records"]]}, None)
    world.drain()
    # THEN each arm has its one person, and the scenario (nothing sent yet: no counter row) is listed with them
    holdout = holdout_report(world, CART)
    assert (holdout["treated"]["assigned"], holdout["holdout"]["assigned"]) == (1, 1)
    listed = world.h.json(world.h.admin("/admin/reports/scenarios?limit=100"))["scenarios"]
    [item] = [s for s in listed if s["scenario_id"] == CART]
    assert (item["holdout"]["treated"]["assigned"], item["holdout"]["holdout"]["assigned"]) == (1, 1)


def test_a_retried_fan_out_page_assigns_each_member_once_in_their_arm(world: World) -> None:
    # GIVEN eight members of a segment and a broadcast holding half of them out
    users = [f"bc-{n}" for n in range(8)]
    for user in users:
        world.customer(user, email_address=f"{user}@example.com")
        world.add_to_cart(user)
    world.drain()
    draft = {
        "name": "Spring sale",
        "audience": {"segment": "cart_abandoners"},
        "channel": "email",
        "template": "dormant_we_miss_you",
        "holdout_share": 0.5,
    }
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    created = world.h.client.http.post("/admin/broadcasts", headers=headers, body=json.dumps(draft))
    assert created.status_code == 201, created.body
    broadcast_id = json.loads(created.body)["id"]
    scheduled = world.h.client.http.post(
        f"/admin/broadcasts/{broadcast_id}/schedule", headers=headers, body=json.dumps({"at": "now"})
    )
    assert scheduled.status_code == 200, scheduled.body
    # WHEN it fans out, and SQS delivers every audience page again (a timeout after the runs were created)
    captured, undo = capturing(world, "fan_out_audience")
    try:
        world.advance(minutes=1)
        world.drain()
    finally:
        undo()
    assert captured
    for event in captured:
        world.h.app.handler_map["fan_out_audience"](event, None)
    world.drain()
    # THEN every member is assigned once, in the arm their run says
    arms = Counter(
        "holdout" if run["holdout"] else "treated"
        for user in users
        for run in world.runs(user_profile_id(user))
        if run["scenario_id"] == f"bc-{broadcast_id}"
    )
    assert sum(arms.values()) == len(users) and arms["holdout"] and arms["treated"]
    holdout = holdout_report(world, f"bc-{broadcast_id}")
    assert {arm: holdout[arm]["assigned"] for arm in ("treated", "holdout")} == dict(arms)


def test_runs_counted_before_the_index_and_new_runs_add_up(world: World) -> None:
    from chalicelib.bootstrap import get_engagement_store

    # GIVEN assignments counted in the report row by the former per-run transaction (runs started before the index)
    store = get_engagement_store()
    store.count("assigned#legacy-1", CART, "*#treated#*", {"assigned": 1}, world.clock.now())
    store.count("assigned#legacy-2", CART, "*#treated#*", {"assigned": 1}, world.clock.now())
    store.count("assigned#legacy-3", CART, "*#holdout#*", {"assigned": 1}, world.clock.now())
    # WHEN two new customers enter, one in each arm
    for user in (user_in(CART, 10, holdout=True), user_in(CART, 10, holdout=False, prefix="t")):
        world.customer(user, email_address=f"{user}@example.com")
        world.add_to_cart(user)
    world.drain()
    # THEN each arm counts its old and new people once
    holdout = holdout_report(world, CART)
    assert (holdout["treated"]["assigned"], holdout["holdout"]["assigned"]) == (3, 2)
    assert holdout["uplift"] is not None and holdout["uplift"]["diff"] == 0.0


def test_erasing_a_person_takes_their_assignment_out_of_the_report(world: World) -> None:
    # GIVEN two held-out customers and one treated in the cart scenario
    held = [user_in(CART, 10, holdout=True, prefix=p) for p in ("a", "b")]
    treated = user_in(CART, 10, holdout=False, prefix="t")
    for user in (*held, treated):
        world.customer(user, email_address=f"{user}@example.com")
        world.add_to_cart(user)
    world.drain()
    assert holdout_report(world, CART)["holdout"]["assigned"] == 2
    # WHEN one of the held-out customers is erased
    _erase(world, held[0])
    # THEN their run, hence their assignment, is gone; the others stay
    holdout = holdout_report(world, CART)
    assert (holdout["treated"]["assigned"], holdout["holdout"]["assigned"]) == (1, 1)
