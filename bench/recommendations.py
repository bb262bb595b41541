"""Recommendations: offline quality on generated shopping data with known structure, the write cost per event, and
the personalisation API's latency and DynamoDB reads per call through chalice's test client on moto.

Quality: products come in categories of bundles (things bought together). A shopper picks a category (Zipf) and a
bundle in it, views some of its products (and a random one, noise), buys one or two; later they buy another product
of the same bundle. Learnt on every training shopper's whole journey and the test shoppers' first session, each test
shopper's next purchase is held out: hit-rate@10 is the share found in their top 10, for item-to-item ranking
(`similarity.rank`) and for the popularity baseline (the 10 best sellers and most viewed they have not seen).
"""

from __future__ import annotations

import json
import random
import statistics
import time
from typing import Any

from chalicelib.recommendations.similarity import Person, event_deltas, popular, popular_key, rank, updated

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


class _Lists:
    """The store in memory, counting list writes (one marker + one per list, as the DynamoDB transaction)."""

    def __init__(self) -> None:
        self.lists: dict[str, dict[str, Any]] = {}
        self.items_written: list[int] = []
        self.units_written: list[int] = []

    def learn(self, history: list[tuple[str, dict[str, Any]]], name: str, props: dict[str, Any]) -> None:
        viewed = [p for n, p in reversed(history) if n == "Product Viewed"]
        bought = [q["product_id"] for n, p in reversed(history) if n == "Order Completed" for q in p["products"]]
        deltas = event_deltas(name, props, viewed, bought)
        new = updated({k: self.lists.get(k) for k in deltas}, deltas)
        self.lists.update(new)
        self.items_written.append(1 + len(new))
        # TransactWriteItems costs 2 write request units per KB (rounded up) of each item: the marker, each list
        kb = [-(-(len(json.dumps(s, separators=(",", ":"))) + 40) // 1024) for s in new.values()]
        self.units_written.append(2 + 2 * sum(kb))


def _person(history: list[tuple[str, dict[str, Any]]]) -> Person:
    viewed = tuple(dict.fromkeys(p["product_id"] for n, p in reversed(history) if n == "Product Viewed"))
    bought = tuple(q["product_id"] for n, p in reversed(history) if n == "Order Completed" for q in p["products"])
    return Person(viewed=viewed, purchased=bought)


def quality(train: int = 3000, test: int = 500, k: int = 10) -> dict[str, Any]:
    """Hit-rate@k of the held-out next purchase: item-to-item vs popularity; write cost per view and per order."""
    store = _Lists()
    data = journeys(train + test)
    for n, (events, after) in enumerate(data):
        history: list[tuple[str, dict[str, Any]]] = []
        for name, props in events:
            store.learn(history, name, props)
            history.append((name, props))
        if n < train:  # training shoppers come back and buy the rest of the bundle
            store.learn(history, "Order Completed", {"products": [after]})
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
        **_write_cost(store, data, train),
    }


def _all_events(data: list, train: int) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for n, (events, after) in enumerate(data):
        out += events
        if n < train:
            out.append(("Order Completed", {"products": [after]}))
    return out


def _write_cost(store: _Lists, data: list, train: int) -> dict[str, Any]:
    names = [name for name, _ in _all_events(data, train)]
    by: dict[str, dict[str, list[int]]] = {}
    for name, items, units in zip(names, store.items_written, store.units_written, strict=True):
        entry = by.setdefault(name, {"items": [], "wru": []})
        entry["items"].append(items)
        entry["wru"].append(units)
    return {
        f"writes_per_{'view' if name == 'Product Viewed' else 'order'}": {
            "items_per_event": round(statistics.mean(v["items"]), 1),
            "write_request_units_per_event": round(statistics.mean(v["wru"]), 1),
            "max_items": max(v["items"]),
        }
        for name, v in by.items()
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
