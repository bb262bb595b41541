"""The pure per-day builder: an archive day's lines become the same list updates the per-event rule makes, summed."""

from __future__ import annotations

import json
import random
from typing import Any

from chalicelib.recommendations.daily import DayBuilder, product_totals
from chalicelib.recommendations.similarity import Delta, day_updated, event_deltas
from tests.fakes.recommendations import applied

DAY = "2026-12-01"


def line(person: str, n: int, event: str, props: dict[str, Any], **body: Any) -> dict[str, Any]:
    return {
        "key": f"src#{person}-{n}",
        "profile_id": person,
        "type": "track",
        "event": event,
        "ts": f"{DAY}T10:{n:02d}:00.000Z",
        "body": json.dumps({"properties": props, "flags": [], "is_bot": False, **body}),
    }


def viewed(person: str, n: int, pid: str) -> dict[str, Any]:
    return line(person, n, "Product Viewed", {"product_id": pid, "category": "tea", "name": pid.upper()})


def bought(person: str, n: int, *pids: str) -> dict[str, Any]:
    return line(person, n, "Order Completed", {"products": [{"product_id": p, "category": "tea"} for p in pids]})


def built(lines: list[dict[str, Any]]) -> dict[str, Delta]:
    builder = DayBuilder()
    for item in lines:
        builder.add(item)
    return builder.deltas()


def counts(lists: dict[str, dict[str, Any]]) -> dict[str, tuple[float, dict[str, float]]]:
    return {k: (v["t"], v["n"]) for k, v in lists.items()}


def test_a_persons_day_teaches_what_the_same_events_taught_one_by_one():
    # GIVEN a day: views a, b, c, an order of a and b, and another view of d
    day = [viewed("p", 0, "a"), viewed("p", 1, "b"), viewed("p", 2, "c"), bought("p", 3, "a", "b"), viewed("p", 4, "d")]
    # WHEN built as one day, and applied the old way, event by event with the person's history so far
    lists: dict[str, dict[str, Any]] = {}
    views: list[dict[str, Any]] = []
    purchased: list[str] = []
    for item in day:
        props = json.loads(item["body"])["properties"]
        cards = props.get("products") or [props]
        deltas = event_deltas(item["event"], props, list(views), list(purchased))
        applied(lists, deltas)
        if item["event"] == "Product Viewed":
            views.insert(0, {"product_id": props["product_id"], **props})
        else:
            purchased[:0] = [c["product_id"] for c in cards]
    deltas = built(day)
    nightly = day_updated({}, deltas, product_totals(deltas, {}))
    # THEN the same lists, the same counts and own totals
    assert counts(nightly) == counts(lists)
    assert nightly["sim#a"]["n"] == {"b": 4.0, "c": 3.0, "d": 1.0}


def test_the_order_of_lines_in_the_archive_does_not_matter_only_event_time():
    day = [viewed("p", 0, "a"), viewed("p", 1, "b"), bought("p", 2, "b"), viewed("q", 0, "b"), viewed("q", 1, "c")]
    shuffled = list(day)
    random.Random(3).shuffle(shuffled)
    assert built(shuffled) == built(day)


def test_people_never_pair_with_each_others_items():
    deltas = built([viewed("p", 0, "a"), viewed("q", 1, "b")])
    assert deltas["sim#a"].pairs == {} and deltas["sim#b"].pairs == {}
    assert deltas["pop#*"].pairs == {"a": 1.0, "b": 1.0}


def test_bots_unverified_orders_unlinked_people_other_events_and_repeats_teach_nothing():
    builder = DayBuilder()
    taught = [
        builder.add(line("bot", 0, "Product Viewed", {"product_id": "a"}, is_bot=True, flags=["bot"])),
        builder.add(line("p", 1, "Order Completed", {"products": [{"product_id": "a"}]}, flags=["unverified"])),
        builder.add(line("unlinked#x", 2, "Product Viewed", {"product_id": "a"})),
        builder.add(line("p", 3, "Product Added", {"product_id": "a"})),
        builder.add(line("p", 4, "Product Viewed", {"name": "no id"})),
        builder.add(viewed("p", 5, "a")),
        builder.add(viewed("p", 5, "a")),  # the same event in two objects (a batch split on a retry)
    ]
    assert taught == [False, False, False, False, False, True, False]
    assert builder.events == 1 and builder.skipped == 4


def test_a_later_card_wins_and_weights_sum_over_the_day():
    deltas = built([viewed("p", 0, "a"), line("q", 1, "Product Viewed", {"product_id": "a", "price": 9})])
    assert deltas["sim#a"].total == 2.0
    assert deltas["sim#a"].card == {"product_id": "a", "category": "tea", "name": "A", "price": 9}


def test_each_neighbour_carries_its_own_total_after_the_day_for_the_cosine():
    deltas = built([viewed("p", 0, "a"), viewed("p", 1, "b"), viewed("q", 0, "b")])
    totals = product_totals(deltas, {"sim#b": 10.0})  # b's list said t = 10 before the day
    lists = day_updated({}, deltas, totals)
    assert lists["sim#a"]["u"] == {"b": 12.0}
    assert lists["sim#b"]["u"] == {"a": 1.0}
