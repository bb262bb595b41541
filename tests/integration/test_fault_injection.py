"""Fault injection: with a tenth of DynamoDB calls failing, every accepted event is stored once and counted once.

The test plays the SDK (it retries any non-2xx answer, as Segment's libraries retry 5xx) and Lambda (the pump
re-delivers what the fold reports in batchItemFailures). Faults are injected at two layers (see tests/faults.py):
below botocore's retries, where its standard mode must absorb them, and above them, where the app itself must.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from chalicelib.profiles.codec import body_json
from chalicelib.tracking.events import expand
from tests.faults import FaultInjector
from tests.integration.conftest import Harness

EVENTS = 2_000
BATCH_SIZE = 50
BATCHED = 1_500  # 30 batches of 50; the rest are single /v1/track and /v1/page calls
VISITORS = 150
MAX_CLIENT_ATTEMPTS = 40


def message(i: int, rng: random.Random) -> dict[str, Any]:
    """Anonymous visitors and signed-in users, never both on one message: no merges, so counts add up simply."""
    visitor = rng.randrange(VISITORS)
    ids = {"anonymousId": f"anon-{visitor}"} if visitor % 3 else {"userId": f"user-{visitor}"}
    if i % 4 == 0:
        return {"type": "page", "messageId": f"m-{i}", "name": "Home", **ids}
    return {"type": "track", "messageId": f"m-{i}", "event": "Product Viewed", "properties": {"n": i}, **ids}


def send_until_accepted(h: Harness, path: str, body: dict[str, Any], answers: list[int]) -> None:
    """The SDK's loop: retry until a 2xx; a 4xx would be our bug (these messages are all valid)."""
    for _ in range(MAX_CLIENT_ATTEMPTS):
        response = h.post(path, body)
        answers.append(response.status_code)
        if response.status_code == 200:
            assert "rejected" not in h.json(response)
            return
        assert response.status_code == 503, response.body
    raise AssertionError(f"{path} never accepted after {MAX_CLIENT_ATTEMPTS} attempts")


def profiles_and_events() -> tuple[list[dict[str, Any]], set[str]]:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    ddb = client("dynamodb")
    profiles = [json.loads(body_json(item)) for item in scan(ddb, table_name("ProfilesTable"))]
    # An item holds one event or a group (a batch's events of one profile): the keys of the events they hold.
    stored = [event.key for item in scan(ddb, table_name("EventsTable")) for event in expand(item)]
    keys = set(stored)
    assert len(stored) == len(keys), "an event stored in two items"
    return profiles, keys


def scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    items, kwargs = [], {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.mark.slow
def test_ten_percent_dynamodb_faults_lose_nothing_and_count_nothing_twice(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.retries.standard import ExponentialBackoff

    # botocore still retries each fault below it, but without its back-off sleeps (1 s scale for throttling): the
    # test checks what is retried, not how long AWS asks us to wait.
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    # GIVEN 2,000 valid events and an app whose DynamoDB calls fail 10% of the time above botocore's retries
    # (the app sees every fault) and 10% of HTTP attempts below them (botocore must absorb those)
    rng = random.Random(2026)
    messages = [message(i, rng) for i in range(EVENTS)]
    harness.pump.max_retries = 200  # Lambda retries a stream batch until it succeeds or the records expire
    answers: list[int] = []
    with FaultInjector(rate=0.10, seed=11, layer="send") as below, FaultInjector(rate=0.10, seed=7) as above:
        # WHEN they are sent as batches of 50 and as single calls, retried like an SDK, and folded like Lambda
        for start in range(0, BATCHED, BATCH_SIZE):
            send_until_accepted(harness, "/v1/batch", {"batch": messages[start : start + BATCH_SIZE]}, answers)
        for msg in messages[BATCHED:]:
            path = "/v1/page" if msg["type"] == "page" else "/v1/track"
            send_until_accepted(harness, path, {k: v for k, v in msg.items() if k != "type"}, answers)
        harness.pump.drain()

    # THEN faults really happened at both layers and clients saw some 503s
    assert above.stats.injected > 100 and below.stats.injected > 100
    assert answers.count(503) > 0
    # AND every event is stored exactly once
    profiles, keys = profiles_and_events()
    assert keys == {f"web#m-{i}" for i in range(EVENTS)}
    # AND counted exactly once in the profiles: each profile's own applied keys, and the type counters, add up
    live = [p for p in profiles if not p.get("merged_into")]
    applied = [key for p in live for key in p.get("applied", {})]  # one tag per event folded
    assert len(applied) == len(set(applied)) == EVENTS
    assert sum(sum(p["computed"]["type_counts"].values()) for p in live) == EVENTS
    assert len(live) == len({m.get("anonymousId") or m.get("userId") for m in messages})
    # AND nothing was given up on: no dead letters, no parked events
    assert harness.pump.dead_letters == []
    assert [row for row in harness.failed_events() if row["reason"].get("error") == "fold_failed"] == []
    print(
        f"\nfaults: above retries {above.stats.injected}/{above.stats.calls} calls {dict(above.stats.by_kind)}; "
        f"below retries {below.stats.injected}/{below.stats.calls} attempts; client answers: "
        f"{answers.count(200)} x 200, {answers.count(503)} x 503; pump rounds {harness.pump.rounds}"
    )
