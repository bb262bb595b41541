"""Catalog triggers: the fan-out rate of one catalog change held at its cap, and what the interest index costs per
tracked product event. Both against in-process moto with the real adapters (runs, due store, delivery queue, interest
index) and a fake clock; profiles are a stub that says everyone is alive (their reads are not what is measured)."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.ingest import moto_app
from bench.prices import PRICES

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class _Alive:
    def __init__(self, profile_id: str) -> None:
        self.profile_id = profile_id
        self.live = True

    def document(self) -> dict[str, Any]:
        return {"profile_id": self.profile_id}


class _Profiles:
    def get(self, profile_id: str) -> _Alive:
        return _Alive(profile_id)

    def get_many(self, profile_ids: Any) -> dict[str, _Alive]:
        return {p: _Alive(p) for p in profile_ids}


class _ListQueue:
    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []

    def send(self, jobs: list[dict[str, Any]]) -> None:
        self.jobs.extend(json.loads(json.dumps(jobs)))  # as SQS would carry them


def _change_record(product_id: str, old_stock: int, new_stock: int) -> dict[str, Any]:
    from chalicelib.catalog.model import Product
    from chalicelib.catalog.ports import StoredProduct

    def image(version: int, stock: int) -> dict[str, Any]:
        product = Product(
            id=product_id, name="Tee", price=1900, currency="JPY", stock=stock, updated_at="2026-03-02T01:00:00Z"
        )
        return {"body": {"S": StoredProduct(product, version).to_json()}, "version": {"N": str(version)}}

    return {"eventName": "MODIFY", "dynamodb": {"OldImage": image(1, old_stock), "NewImage": image(2, new_stock)}}


def fanout(quick: bool) -> dict[str, Any]:
    from chalicelib import bootstrap
    from chalicelib.catalog import InterestSignal
    from chalicelib.scenarios.catalog_triggers import CatalogTriggerService
    from chalicelib.shared.clock import FakeClock

    per_minute = 50 if quick else 600
    people = 130 if quick else 2_000
    with moto_app():
        clock = FakeClock(START)
        index = bootstrap.get_interest_index()
        for n in range(people):
            index.record(f"p-{n:06d}", [InterestSignal("sku-1", "viewed", START)], START + timedelta(days=90))
        scenarios = [s for s in bootstrap.get_scenarios() if s.id == "low_stock_reminder"]
        released: Counter[int] = Counter()

        class _Queue:
            def enqueue(self, messages: list[dict[str, Any]], delay_seconds: int = 0) -> None:
                released[0] += len(messages)

        class _Due:
            def put(self, due_at: datetime, ref: str, payload: dict[str, Any]) -> None:
                due = bootstrap.get_delivery_service().due  # the real DueTable write
                due.put(due_at, ref, payload)
                released[int((due_at - START).total_seconds() // 60)] += 1

        jobs = _ListQueue()
        service = CatalogTriggerService(
            interests=index,
            profiles=_Profiles(),  # type: ignore[arg-type]
            runs=bootstrap.get_run_store(),
            queue=_Queue(),
            due=_Due(),
            fanout=jobs,
            clock=clock,
            scenarios=scenarios,
            per_minute=per_minute,
        )
        service.on_changes([_change_record("sku-1", 20, 3)])
        started = pages = 0
        began = time.perf_counter()
        while jobs.jobs:
            job = jobs.jobs.pop(0)
            clock.advance(timedelta(seconds=1))  # a page a second: the queue hands the next one over at once
            started += service.fan_out(job).started
            pages += 1
        seconds = time.perf_counter() - began
    minutes = sorted(released)
    return {
        "cap_per_minute": per_minute,
        "interested": people,
        "runs_started": started,
        "pages": pages,
        "first_steps_per_minute": [released[m] for m in minutes],
        "max_per_minute": max(released.values()),
        "minutes": len(minutes),
        "expected_minutes": math.ceil(people / per_minute),
        "fanout_runs_per_second_moto": started / seconds if seconds else 0.0,
    }


def interest_cost(quick: bool) -> dict[str, Any]:
    """One profiles-stream batch of 200 profiles x 5 new events, 3 of them product events (2 distinct products), as
    the scenarios reader sees it: write requests and units the interest index adds, per product event."""
    from chalicelib import bootstrap
    from chalicelib.scenarios.triggers import ScenarioStats
    from chalicelib.tracking.events import TrackedEvent

    profiles = 40 if quick else 200
    with moto_app() as (_client, _ddb, log):
        service = bootstrap.get_scenario_service()
        service._scenarios = [s for s in bootstrap.get_scenarios() if s.id == "low_stock_reminder"]
        batches: list[tuple[dict[str, Any], list[TrackedEvent]]] = []
        for n in range(profiles):
            pid = f"p-{n:06d}"
            events = []
            for k, (name, product) in enumerate(
                [
                    ("Product Viewed", "sku-1"),
                    ("Product Viewed", "sku-1"),
                    ("Product Added", "sku-2"),
                    ("Page Viewed", None),
                    ("Products Searched", None),
                ]
            ):
                at = START + timedelta(seconds=k)
                events.append(
                    TrackedEvent(
                        message_id=f"{pid}-{k}",
                        source_id="web",
                        type="track",
                        profile_id=pid,
                        timestamp=at,
                        received_at=at,
                        event=name,
                        properties={"product_id": product} if product else {},
                    )
                )
            # Subscribers: the index is written only for people a catalog scenario can reach (an email and, for this
            # marketing mail, their consent).
            subscriber = {"email": f"{pid}@mail.example", "consent": {"email": {"status": "opted_in", "at": "2026"}}}
            batches.append(({"profile_id": pid, "version": 1, **subscriber}, events))
        log.clear()
        began = time.perf_counter()
        for profile, events in batches:
            service.process(profile, events, [], ScenarioStats())
        seconds = time.perf_counter() - began
        updates = log.calls["UpdateItem"]
        sizes = [kb for table, kb in log.items_written] or [0.15]
    product_events = profiles * 3
    units = updates * 1  # each interest item is ~0.15 KB: one write unit
    return {
        "profiles": profiles,
        "events": profiles * 5,
        "product_events": product_events,
        "interest_writes": updates,
        "writes_per_product_event": updates / product_events,
        "write_units_per_product_event": units / product_events,
        "item_kb": max(sizes),
        "cost_per_million_product_events": units / product_events * PRICES["dynamodb_per_million_wru"],
        "seconds_moto": seconds,
    }


def run(quick: bool = False) -> dict[str, Any]:
    return {"fanout": fanout(quick), "interest": interest_cost(quick)}
