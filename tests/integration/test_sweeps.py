"""Scheduled jobs: the lifecycle sweep (Query on by_due_day, never a Scan) and the RFM / needs-group cut points."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.shared.clock import FakeClock
from tests.integration.conftest import Harness

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock(harness: Harness) -> Iterator[FakeClock]:
    from chalicelib import bootstrap
    from chalicelib.shared.clock import get_clock, set_clock

    previous = get_clock()
    fake = FakeClock(T0)
    set_clock(fake)
    bootstrap.reset()  # services capture the clock when built
    yield fake
    set_clock(previous)
    bootstrap.reset()


@pytest.fixture
def dynamodb_calls() -> Iterator[list[str]]:
    """Names of the DynamoDB operations the app's client makes (botocore before-call hook)."""
    from chalicelib.shared.aws import client

    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    events = client("dynamodb").meta.events
    events.register("before-call.dynamodb", record)
    yield calls
    events.unregister("before-call.dynamodb", record)


def send(h: Harness, path: str, body: dict[str, Any]) -> None:
    response = h.post(path, body)
    assert response.status_code == 200, response.body


def buy(h: Harness, user: str, order_id: str, revenue: float, when: datetime, category: str = "coffee") -> None:
    send(
        h,
        "/v1/track",
        {
            "userId": user,
            "event": "Order Completed",
            "timestamp": when.isoformat(),
            "properties": {
                "order_id": order_id,
                "revenue": revenue,
                "products": [{"product_id": f"{category}-1", "price": revenue, "quantity": 1, "category": category}],
            },
        },
    )


def view(h: Harness, user: str) -> dict[str, Any]:
    response = h.admin(f"/admin/profiles?user_id={user}")
    assert response.status_code == 200, response.body
    return h.json(response)


def run_job(h: Harness, name: str) -> dict[str, Any]:
    """Invoke a scheduled handler on demand, with the event EventBridge sends."""
    event = {
        "version": "0",
        "id": "on-demand",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-03-02T12:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:123456789012:rule/one2one-dev-{name}-event"],
        "detail": {},
    }
    return h.app.handler_map[name](event, None)


def test_the_sweep_moves_a_customer_who_went_silent_to_dormant_without_a_scan(
    harness: Harness, clock: FakeClock, dynamodb_calls: list[str]
) -> None:
    # GIVEN a customer whose only order was 100 days ago: at risk now, dormant once silent for 180 days
    buy(harness, "silent", "o-1", 40.0, T0 - timedelta(days=100))
    harness.pump.drain()
    before = view(harness, "silent")["profile"]
    assert before["stage"] == "at_risk"
    assert before["due_day"] == (T0 + timedelta(days=81)).date().isoformat()
    # WHEN 81 days pass with no event at all and the sweep runs
    clock.advance(timedelta(days=81))
    dynamodb_calls.clear()
    report = run_job(harness, "lifecycle_sweep")
    harness.pump.drain()
    # THEN the passing of time alone moved the stage, recorded as a transition
    after = view(harness, "silent")["profile"]
    assert after["stage"] == "dormant"
    assert any(t["kind"] == "stage_changed" and t["to"] == "dormant" for t in after["recent_transitions"])
    assert report["profiles_written"] == 1 and report["complete"]
    assert report["swept_through"] == (T0 + timedelta(days=81)).date().isoformat()
    # AND it found the profile through the by_due_day index, never by scanning
    assert "Query" in dynamodb_calls
    assert "Scan" not in dynamodb_calls


def test_each_day_is_swept_once_and_a_new_run_starts_after_the_last_swept_day(
    harness: Harness, clock: FakeClock
) -> None:
    buy(harness, "once", "o-1", 25.0, T0)
    harness.pump.drain()
    first = run_job(harness, "lifecycle_sweep")
    assert first["days"][-1] == T0.date().isoformat()
    # WHEN it runs again the same day, and then two days later
    assert run_job(harness, "lifecycle_sweep")["days"] == []
    clock.advance(timedelta(days=2))
    third = run_job(harness, "lifecycle_sweep")
    # THEN only the days not yet swept are read
    assert third["days"] == [(T0 + timedelta(days=d)).date().isoformat() for d in (1, 2)]


def test_a_sweep_out_of_time_saves_its_place_and_the_next_run_finishes(
    harness: Harness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.bootstrap import get_lifecycle_sweep_service
    from chalicelib.profiles import sweeps

    # GIVEN three customers who all go dormant on the same day
    for n in range(3):
        buy(harness, f"batch-{n}", f"o-{n}", 30.0, T0 - timedelta(days=100))
    harness.pump.drain()
    clock.advance(timedelta(days=81))
    monkeypatch.setattr(sweeps, "PAGE_SIZE", 1)
    # WHEN the first run has no time left after one page
    partial = get_lifecycle_sweep_service().run(deadline=0.0)
    # THEN it stops part-way, and the next run completes the day without redoing the first profile
    assert not partial.complete and partial.profiles_written == 1
    rest = get_lifecycle_sweep_service().run()
    assert rest.complete and rest.profiles_written == 2
    harness.pump.drain()
    assert {view(harness, f"batch-{n}")["profile"]["stage"] for n in range(3)} == {"dormant"}


def stored_cut_points() -> dict[str, Any]:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    items = client("dynamodb").query(
        TableName=table_name("StateTable"),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "cut_points"}},
    )["Items"]
    return {i["sk"]["S"]: {"body": json.loads(i["body"]["S"]), "computed_at": i["computed_at"]["S"]} for i in items}


def test_the_cut_points_job_stores_cut_points_and_folds_assign_rfm_and_group(
    harness: Harness, clock: FakeClock, dynamodb_calls: list[str]
) -> None:
    # GIVEN twenty customers of one needs group: the higher n, the more recent, frequent and valuable
    for n in range(20):
        for k in range(n // 5 + 1):
            buy(harness, f"c{n}", f"c{n}-o{k}", 10.0 * (n + 1), T0 - timedelta(days=3 * (19 - n) + k))
    harness.pump.drain()
    assert view(harness, "c19")["profile"].get("rfm") is None  # no cut points yet
    # WHEN the scheduled job runs
    dynamodb_calls.clear()
    report = run_job(harness, "refresh_cut_points")
    harness.pump.drain()
    # THEN cut points are stored with their time, from the population rows (Queries, no Scan)
    stored = stored_cut_points()
    assert stored["rfm"]["body"]["sample_size"] == 20
    assert stored["rfm"]["computed_at"].startswith("2026-03-02T12:00:00")
    assert set(stored["group"]["body"]["groups"]) == {"coffee"}
    assert "Scan" not in dynamodb_calls
    assert report["customers"] == 20 and report["stale"] == 20 and report["profiles_written"] == 20
    # AND every customer got RFM scores and a group name; the best one is a champion in the top decile of its group
    best = view(harness, "c19")
    assert best["profile"]["rfm"] == {"r": 5, "f": 4, "m": 5, "group": "Champions"}
    assert best["summary"]["rfm"] == best["profile"]["rfm"]
    assert best["summary"]["needs_group"] == "coffee" and best["summary"]["group_value_percentile"] >= 90
    assert "loyal_top_of_group" in best["profile"]["segments"]
    assert view(harness, "c0")["profile"]["rfm"] == {"r": 1, "f": 1, "m": 1, "group": "Lost"}
    # AND a second run the same day changes nobody (the population rows carry the current scores)
    again = run_job(harness, "refresh_cut_points")
    assert again["stale"] == 0 and again["profiles_written"] == 0
    # AND a later fold of a new event uses the stored cut points too
    buy(harness, "newcomer", "n-1", 5.0, T0)
    harness.pump.drain()
    assert view(harness, "newcomer")["profile"]["rfm"]["m"] == 1


def test_the_cut_points_job_without_customers_stores_nothing(harness: Harness, clock: FakeClock) -> None:
    send(harness, "/v1/page", {"anonymousId": "just-looking"})
    harness.pump.drain()
    assert run_job(harness, "refresh_cut_points")["customers"] == 0
    assert stored_cut_points() == {}
