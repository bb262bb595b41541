"""Recommendations: offline quality on generated shopping data with known structure, the nightly job's write cost,
and the personalisation API's latency and DynamoDB reads per call through chalice's test client on moto.

Quality: products come in categories of bundles (things bought together). A shopper picks a category (Zipf) and a
bundle in it, views some of its products (and a random one, noise), buys one or two; the next day they buy another
product of the same bundle. The sessions are archive lines spread over a week, learnt one day at a time as the nightly
job learns them (`recommendations.daily`: a person's day replayed, each touched list written once a day); each test
shopper's next purchase is held out: hit-rate@10 is the share found in their top 10, for item-to-item ranking
(`similarity.rank`) and for the popularity baseline (the 10 best sellers and most viewed they have not seen).
"""

from __future__ import annotations

import json
import random
import statistics
import time
from typing import Any

from bench.prices import PRICES
from chalicelib.recommendations.daily import DayBuilder, product_totals
from chalicelib.recommendations.similarity import Person, day_updated, popular, popular_key, rank

CATEGORIES, BUNDLES, BUNDLE_SIZE = 8, 6, 4


def _catalog() -> list[list[list[dict[str, Any]]]]:
    return [
        [
            [
                {"product_id": f"c{c}b{b}p{p}", "name": f"Product {c}.{b}.{p}", "price": 10 + p, "category": f"cat{c}"}
                for p in range(BUNDLE_SIZE)
            ]
            for b in range(BUNDLES)
        ]
        for c in range(CATEGORIES)
    ]


def _zipf(rng: random.Random, n: int) -> int:
    return min(int(rng.paretovariate(1.2)) - 1, n - 1)


def journeys(shoppers: int, seed: int = 7) -> list[tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]]:
    """Per shopper: (first-session events as (name, properties), the next purchase's product)."""
    rng = random.Random(seed)
    catalog = _catalog()
    every = [p for cat in catalog for bundle in cat for p in bundle]
    out = []
    for _ in range(shoppers):
        bundle = list(catalog[_zipf(rng, CATEGORIES)][_zipf(rng, BUNDLES)])
        rng.shuffle(bundle)
        seen = bundle[: rng.randint(2, 3)]
        events: list[tuple[str, dict[str, Any]]] = [("Product Viewed", p) for p in seen]
        events.insert(rng.randrange(len(events) + 1), ("Product Viewed", rng.choice(every)))  # noise
        events.append(("Order Completed", {"products": seen[: rng.randint(1, 2)]}))
        out.append((events, bundle[-1]))
    return out


DAYS = 7  # the shoppers' sessions are spread over a week of archive days
LIST_OVERHEAD_BYTES = 40  # a list item's key and attribute names beside its JSON


class _Lists:
    """The store in memory, learnt as the nightly job learns it: each day's archived lines through `DayBuilder`, each
    touched list written once per day (`day_updated`), counting the write and read units DynamoDB would bill."""

    def __init__(self) -> None:
        self.lists: dict[str, dict[str, Any]] = {}
        self.days: list[dict[str, float]] = []

    def learn_day(self, lines: list[dict[str, Any]]) -> None:
        builder = DayBuilder()
        for line in lines:
            builder.add(line)
        deltas = builder.deltas()
        before = {k: float(self.lists[k].get("t") or 0.0) for k in deltas if k.startswith("sim#") and k in self.lists}
        read_kb = [_size(self.lists[k]) for k in deltas if k in self.lists]
        new = day_updated({k: self.lists.get(k) for k in deltas}, deltas, product_totals(deltas, before))
        self.lists.update(new)
        written_kb = [_size(state) for state in new.values()]
        self.days.append(
            {
                "events": builder.events,
                "lists": len(new),
                # a conditional PutItem: 1 write unit per KB (rounded up) of the item written
                "wru": sum(-(-kb // 1024) for kb in written_kb),
                # the job reads each list twice: totals (eventually consistent, 0.5 unit per 4 KB), then the write
                # pass (strongly consistent, 1 unit per 4 KB)
                "rru": sum(1.5 * -(-kb // 4096) for kb in read_kb),
            }
        )


def _size(state: dict[str, Any]) -> int:
    return len(json.dumps(state, separators=(",", ":"), sort_keys=True)) + LIST_OVERHEAD_BYTES


def _line(shopper: int, n: int, day: int, name: str, props: dict[str, Any]) -> dict[str, Any]:
    """An archived line (`tracking.archive.archive_line`): the stored event JSON in `body`."""
    return {
        "key": f"bench#{shopper}-{n}",
        "profile_id": f"shopper-{shopper}",
        "type": "track",
        "event": name,
        "ts": f"2026-11-{day + 1:02d}T{10 + n:02d}:00:00.000Z",
        "body": json.dumps({"event": name, "properties": props, "flags": [], "is_bot": False}),
    }


def _person(history: list[tuple[str, dict[str, Any]]]) -> Person:
    viewed = tuple(dict.fromkeys(p["product_id"] for n, p in reversed(history) if n == "Product Viewed"))
    bought = tuple(q["product_id"] for n, p in reversed(history) if n == "Order Completed" for q in p["products"])
    return Person(viewed=viewed, purchased=bought)


def quality(train: int = 3000, test: int = 500, k: int = 10) -> dict[str, Any]:
    """Hit-rate@k of the held-out next purchase: item-to-item (lists learnt by the nightly job, one archive day at a
    time) vs popularity; the job's write cost per list and per day."""
    store = _Lists()
    data = journeys(train + test)
    by_day: list[list[dict[str, Any]]] = [[] for _ in range(DAYS + 1)]
    for shopper, (events, after) in enumerate(data):
        day = shopper % DAYS
        by_day[day] += [_line(shopper, n, day, name, props) for n, (name, props) in enumerate(events)]
        if shopper < train:  # training shoppers come back the next day and buy the rest of the bundle
            by_day[day + 1].append(_line(shopper, len(events), day + 1, "Order Completed", {"products": [after]}))
    for lines in by_day:
        store.learn_day(lines)
    i2i_hits = pop_hits = 0
    for events, target in data[train:]:
        person = _person(events)
        lists = {key: v for key in person.keys() if (v := store.lists.get(key))}  # noqa: SIM118 - Person.keys()
        mine = rank(person, lists, k)
        i2i_hits += target["product_id"] in {c["product_id"] for c in mine}
        base = popular(store.lists.get(popular_key(None)), k, {*person.viewed, *person.purchased})
        pop_hits += target["product_id"] in {c["product_id"] for c in base}
    return {
        "train_shoppers": train,
        "test_shoppers": test,
        "products": CATEGORIES * BUNDLES * BUNDLE_SIZE,
        "hit_rate_item_to_item": round(i2i_hits / test, 3),
        "hit_rate_popularity": round(pop_hits / test, 3),
        "nightly": _nightly_cost(store),
    }


def _nightly_cost(store: _Lists) -> dict[str, Any]:
    """What the nightly job costs: writes per list and per day, $ per day, $ per million learnt events."""
    days = [d for d in store.days if d["events"]]
    events = sum(d["events"] for d in days)
    wru = sum(d["wru"] for d in days)
    rru = sum(d["rru"] for d in days)
    lists = sum(d["lists"] for d in days)
    dollars = (wru * PRICES["dynamodb_per_million_wru"] + rru * PRICES["dynamodb_per_million_rru"]) / 1e6
    return {
        "days": len(days),
        "events_per_day": round(events / len(days), 1),
        "lists_written_per_day": round(lists / len(days), 1),
        "wru_per_list": round(wru / lists, 2),
        "wru_per_day": round(wru / len(days), 1),
        "dollars_per_day": round(dollars / len(days), 6),
        "dollars_per_million_events": round(dollars / events * 1e6, 3),
    }


def personalize_latency(calls: int = 200) -> dict[str, Any]:
    """`GET /v1/personalize` through chalice's test client on moto: p50/p95 and DynamoDB reads per call."""
    import base64

    from chalice.test import Client

    from bench.backfill import _moto

    with _moto():
        from app import app
        from chalicelib.bootstrap import get_source_registry
        from chalicelib.shared.aws import client
        from local.pump import StreamPump

        get_source_registry().upsert_source("bench", "bench-key", ["https://shop.example"], kind="server")
        auth = {
            "Authorization": "Basic " + base64.b64encode(b"bench-key:").decode(),
            "Content-Type": "application/json",
        }
        reads: list[str] = []

        def count(event_name: str, **_: Any) -> None:
            if event_name.rsplit(".", 1)[-1] in ("GetItem", "BatchGetItem", "Query", "Scan"):
                reads.append(event_name)

        with Client(app) as http:
            for events, _target in journeys(60):
                anon = f"a{len(reads)}-{time.perf_counter_ns()}"
                batch = [{"type": "track", "anonymousId": anon, "event": n, "properties": p} for n, p in events]
                http.http.post("/v1/batch", body=json.dumps({"batch": batch}), headers=auth)
            StreamPump(app).drain()
            # the next night: the archive's compaction, then the similar-items job learns the day
            from datetime import timedelta

            from chalicelib.bootstrap import get_archive_maintenance, get_similar_items_learning
            from chalicelib.shared import clock

            saved = clock.get_clock()
            clock.set_clock(clock.FakeClock(saved.now() + timedelta(days=1)))
            get_archive_maintenance().compact_due(clock.get_clock().now())
            assert get_similar_items_learning().run(clock.get_clock().now()).lists_written
            visitors = [f"a0-{n}" for n in range(5)]
            http.http.post(
                "/v1/batch",
                body=json.dumps(
                    {
                        "batch": [
                            {
                                "type": "track",
                                "anonymousId": v,
                                "event": "Product Viewed",
                                "properties": {"product_id": "c0b0p0", "category": "cat0"},
                            }
                            for v in visitors
                        ]
                    }
                ),
                headers=auth,
            )
            StreamPump(app).drain()
            client("dynamodb").meta.events.register("before-call.dynamodb.*", count)
            timings, per_call = [], []
            for n in range(calls):
                anon = visitors[n % len(visitors)]
                reads.clear()
                started = time.perf_counter()
                response = http.http.get(f"/v1/personalize?anonymousId={anon}&slots=hero,recs,banner", headers=auth)
                timings.append(time.perf_counter() - started)
                assert response.status_code == 200, response.body
                per_call.append(len(reads))
            client("dynamodb").meta.events.unregister("before-call.dynamodb.*", count)
            clock.set_clock(saved)
    timings = timings[5:]  # the first calls fill the write-key cache and import the rules
    q = statistics.quantiles(timings, n=100)
    return {
        "calls": len(timings),
        "p50_ms": round(q[49] * 1000, 1),
        "p95_ms": round(q[94] * 1000, 1),
        "reads_per_call_max": max(per_call[5:]),
        "reads_per_call_mean": round(statistics.mean(per_call[5:]), 2),
    }


def run(quick: bool) -> dict[str, Any]:
    out = quality(train=800, test=200) if quick else quality()
    out["personalize"] = personalize_latency(40 if quick else 300)
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick=False), indent=2))
