"""Ingest: `/v1/batch` and `/v1/track` through the Chalice handler against in-process moto, beside a bare write."""

from __future__ import annotations

import base64
import json
import math
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import workload

WRITE_OPS = {"PutItem", "BatchWriteItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}
READ_OPS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


class CallLog:
    """Counts DynamoDB requests (botocore `before-call`) and the write units their items would consume."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items_written: list[tuple[str, float]] = []  # (table, item KB)

    def count(self, model: Any, **_: Any) -> None:
        """`before-call`: one per API call (not per retry attempt)."""
        self.calls[model.name] += 1

    def sizes(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        """`provide-client-params`: the call's own parameters, to size the items written."""
        if model.name == "PutItem":
            self.items_written.append((params["TableName"], workload.item_kb(params["Item"])))
        elif model.name == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        self.items_written.append((table, workload.item_kb(request["PutRequest"]["Item"])))

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.calls.items() if op in WRITE_OPS)

    @property
    def reads(self) -> int:
        return sum(n for op, n in self.calls.items() if op in READ_OPS)

    def clear(self) -> None:
        self.calls.clear()
        self.items_written.clear()


@contextmanager
def moto_app() -> Iterator[tuple[Any, Any, CallLog]]:
    """The app against in-process moto with provisioned tables and a source: (chalice test client, ddb, call log)."""
    from moto import mock_aws

    saved = {k: os.environ.get(k) for k in [*MOTO_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(MOTO_ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from chalice.test import Client

    from chalicelib import bootstrap
    from chalicelib.shared.aws import client, reset_clients

    try:
        with mock_aws():
            reset_clients()
            bootstrap.reset()
            from local.provision import provision

            provision()
            from app import app

            bootstrap.get_source_registry().upsert_source(
                workload.SOURCE_ID, workload.WRITE_KEY, [workload.ORIGIN], kind="server"
            )
            log = CallLog()
            ddb = client("dynamodb")
            ddb.meta.events.register("before-call.dynamodb", log.count)
            ddb.meta.events.register("provide-client-params.dynamodb", log.sizes)
            with Client(app) as test_client:
                yield test_client, ddb, log
            reset_clients()
            bootstrap.reset()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _headers() -> dict[str, str]:
    auth = base64.b64encode(f"{workload.WRITE_KEY}:".encode()).decode()
    return {"Content-Type": "application/json", "Authorization": f"Basic {auth}", "User-Agent": workload.USER_AGENT}


def _batches(count: int, size: int, seed: int) -> list[list[dict[str, Any]]]:
    rng = random.Random(seed)
    out = []
    for b in range(count):
        out.append([workload.message(rng.randrange(5000), b * size + i, workload.NOW, rng) for i in range(size)])
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """Per-event time of `/v1/batch` (100 events) vs a bare BatchWriteItem of the same items; requests per event."""
    rounds = 3 if quick else 15
    size = 100
    with moto_app() as (http, ddb, log):
        from chalicelib.shared.settings import table_name

        events_table = table_name("EventsTable")
        headers = _headers()
        # Warm-up: the first request imports and builds the services (a cold start is measured separately).
        http.http.post("/v1/batch", body=json.dumps({"batch": _batches(1, size, 99)[0]}), headers=headers)

        handler_times, bare_times = [], []
        batch_logs = []
        for batch in _batches(rounds, size, 1):
            log.clear()
            body = json.dumps({"batch": batch})
            start = time.perf_counter()
            response = http.http.post("/v1/batch", body=body, headers=headers)
            handler_times.append((time.perf_counter() - start) / size)
            assert response.status_code == 200, response.body
            batch_logs.append((log.writes, log.reads, dict(log.calls), list(log.items_written)))
            # The same items (as the app wrote them, re-keyed), written bare: 25 per BatchWriteItem.
            items = []
            for table, _ in log.items_written:
                assert table == events_table
            stored = ddb.scan(TableName=events_table, Limit=size)["Items"][:size]  # any 100 stored items
            for i, item in enumerate(stored):
                bare = f"bare#{time.time_ns()}#{i}"  # a new key (the table's is profile_id, ts_key)
                items.append({**item, "pk": {"S": bare}, "ts_key": {"S": f"{item['ts_key']['S'][:13]}#{bare}"}})
            start = time.perf_counter()
            for chunk in range(0, len(items), 25):
                ddb.batch_write_item(
                    RequestItems={events_table: [{"PutRequest": {"Item": it}} for it in items[chunk : chunk + 25]]}
                )
            bare_times.append((time.perf_counter() - start) / len(items))

        single_logs = []
        rng = random.Random(5)
        single_times = []
        for i in range(rounds):
            log.clear()
            message = workload.message(rng.randrange(5000), 900_000 + i, workload.NOW, rng, "Product Viewed")
            message.pop("type")
            start = time.perf_counter()
            response = http.http.post("/v1/track", body=json.dumps(message), headers=headers)
            single_times.append(time.perf_counter() - start)
            assert response.status_code == 200, response.body
            single_logs.append((log.writes, log.reads, list(log.items_written)))

    handler = statistics.median(handler_times)
    bare = statistics.median(bare_times)
    writes_batch = statistics.median(w for w, _, _, _ in batch_logs)
    reads_batch = statistics.median(r for _, r, _, _ in batch_logs)
    event_kb = [kb for _, _, _, items in batch_logs for _, kb in items]
    return {
        "batch_size": size,
        "rounds": rounds,
        "handler_seconds_per_event": handler,
        "handler_seconds_per_event_range": [min(handler_times), max(handler_times)],
        "bare_batch_write_seconds_per_event": bare,
        "ratio": handler / bare,
        "single_request_seconds": statistics.median(single_times),
        "write_requests_per_event_single": statistics.median(w for w, _, _ in single_logs),
        "read_requests_per_event_single": statistics.median(r for _, r, _ in single_logs),
        "write_requests_per_event_batched": writes_batch / size,
        "read_requests_per_event_batched": reads_batch / size,
        "calls_per_batch": batch_logs[-1][2],
        "event_item_kb_median": statistics.median(event_kb),
        "event_item_kb_max": max(event_kb),
        "event_wru_per_item": statistics.median(math.ceil(kb) for kb in event_kb),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
