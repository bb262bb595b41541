"""Cost levers, measured: what one tracked event writes and reads in DynamoDB, and what a request logs.

`python -m bench.levers` posts the bench workload through the Chalice handler against in-process moto (the same setup as
`bench.ingest`; batches of random visitors, batches of one visitor each (one group item), single events) and meters, per
event, the events-table item bytes and write units (the base item and any index entry, sized from the index's
projection read with `describe_table`: the table has none since it is keyed by profile), the read units of every read
(strongly consistent 1 per 4 KB, eventually consistent 0.5), and the bytes the app writes to stdout per request at the
default log level (JSON log lines and the EMF metric blobs: CloudWatch Logs ingests both). Run it on two commits to get
a lever's before/after; bench/cost.py prices the counts.
"""

from __future__ import annotations

import io
import json
import logging
import math
import random
import statistics
import sys
from contextlib import redirect_stdout
from typing import Any

from bench import workload
from bench.ingest import _headers, moto_app

INDEX_ENTRY_OVERHEAD_BYTES = 100  # DynamoDB sizes a GSI entry as its attributes + 100 bytes
STORAGE_ITEM_OVERHEAD_BYTES = 100  # and stores every item (table or index) with 100 bytes of its own
# us-east-1 list prices read 2026-12 (bench/prices.py is the cost model's; these only price the storage lever here):
# DynamoDB Standard storage per GB-month, and point-in-time recovery (the events table has it on) per GB-month.
STORAGE_PER_GB_MONTH = 0.25
PITR_PER_GB_MONTH = 0.20
DAYS_PER_MONTH = 30.4


def _attribute_bytes(name: str, value: dict[str, Any]) -> int:
    ((kind, raw),) = value.items()
    if kind == "B":
        return len(name.encode()) + len(raw)
    if kind == "N":
        return len(name.encode()) + (len(str(raw).lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind in ("S",):
        return len(name.encode()) + len(str(raw).encode())
    return len(name.encode()) + len(json.dumps(raw).encode())  # maps/lists/sets: close enough for these items


def item_bytes(item: dict[str, Any]) -> int:
    return sum(_attribute_bytes(name, value) for name, value in item.items())


def index_entry_bytes(item: dict[str, Any], index: dict[str, Any], table_keys: list[str]) -> int:
    """The size DynamoDB bills a GSI write at: keys + projected attributes + 100 bytes; 0 when the item is absent from
    a sparse index."""
    index_keys = [k["AttributeName"] for k in index["KeySchema"]]
    if any(k not in item for k in index_keys):
        return 0
    projection = index["Projection"]
    if projection["ProjectionType"] == "ALL":
        names = list(item)
    else:
        names = [*table_keys, *index_keys, *projection.get("NonKeyAttributes", [])]
    return sum(_attribute_bytes(n, item[n]) for n in dict.fromkeys(names) if n in item) + INDEX_ENTRY_OVERHEAD_BYTES


class Meter:
    """botocore hooks: every write's item (for units) and every read's keys and consistency."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.reads: list[tuple[str, int, bool]] = []  # (operation, keys, strongly consistent)
        self.calls: list[str] = []

    def params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append(model.name)
        if model.name == "PutItem":
            self.writes.append((params["TableName"], params["Item"]))
        elif model.name == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                self.writes += [(table, r["PutRequest"]["Item"]) for r in requests if "PutRequest" in r]
        elif model.name == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                self.reads.append((table, len(request["Keys"]), bool(request.get("ConsistentRead"))))
        elif model.name == "GetItem":
            self.reads.append((params["TableName"], 1, bool(params.get("ConsistentRead"))))

    def clear(self) -> None:
        self.writes.clear()
        self.reads.clear()
        self.calls.clear()


def _log_streams() -> list[logging.StreamHandler[Any]]:
    return [h for h in logging.getLogger("one2one").handlers if isinstance(h, logging.StreamHandler)]


def _post(http: Any, path: str, body: str, sink: io.StringIO) -> None:
    handlers = _log_streams()
    saved = [h.setStream(sink) for h in handlers]
    try:
        with redirect_stdout(sink):
            response = http.http.post(path, body=body, headers=_headers())
    finally:
        for handler, stream in zip(handlers, saved, strict=True):
            handler.setStream(stream if stream is not None else sys.stdout)
    assert response.status_code == 200, response.body


def _summary(meter: Meter, events: int, events_table: str, index: dict[str, Any] | None, keys: list[str]) -> dict:
    event_items = [item for table, item in meter.writes if table == events_table]
    sizes = [item_bytes(i) for i in event_items]
    base_wru = sum(math.ceil(s / 1024) for s in sizes)
    gsi_sizes = [index_entry_bytes(i, index, keys) for i in event_items] if index else []
    gsi_wru = sum(math.ceil(s / 1024) for s in gsi_sizes if s)
    rru = {"strong": 0.0, "eventual": 0.0}
    for _, n, strong in meter.reads:
        rru["strong" if strong else "eventual"] += n * (1.0 if strong else 0.5)
    from chalicelib.shared.settings import get_settings

    ttl_days = get_settings().event_ttl_days
    # Per event, not per item: a group item holds a batch's events of one profile.
    table_bytes = (sum(sizes) + STORAGE_ITEM_OVERHEAD_BYTES * len(sizes)) / events if sizes else 0
    index_bytes = sum(gsi_sizes) / events if gsi_sizes else 0  # an index entry's size holds its 100 bytes
    months = ttl_days / DAYS_PER_MONTH
    # Over the event's life in the table, per million events: table + index storage, and PITR (billed on the table's
    # size, global secondary indexes excluded).
    gb_months = 1e6 * months / 1e9
    storage = gb_months * ((table_bytes + index_bytes) * STORAGE_PER_GB_MONTH + table_bytes * PITR_PER_GB_MONTH)
    return {
        "event_ttl_days": ttl_days,
        "stored_bytes_per_event": round(table_bytes + index_bytes),
        "storage_dollars_per_million_events": round(storage, 2),
        "event_item_bytes_median": statistics.median(sizes) if sizes else 0,
        "event_item_bytes_max": max(sizes, default=0),
        "index_entry_bytes_median": statistics.median(gsi_sizes) if gsi_sizes else 0,
        # The same entry were the index KEYS_ONLY: still one write unit (any index write is at least one).
        "keys_only_index_entry_bytes_median": statistics.median(
            index_entry_bytes(i, {**index, "Projection": {"ProjectionType": "KEYS_ONLY"}}, keys) for i in event_items
        )
        if index and event_items
        else 0,
        "items_per_event": len(event_items) / events,  # below 1 when a batch's events of a profile share an item
        "event_wru_per_event": base_wru / events,
        "index_wru_per_event": gsi_wru / events,
        "rru_per_event_strong": rru["strong"] / events,
        "rru_per_event_eventual": rru["eventual"] / events,
        "dynamodb_requests_per_event": len(meter.calls) / events,
    }


def run(batches: int = 10, batch_size: int = 20, singles: int = 20) -> dict[str, Any]:
    rng = random.Random(7)
    with moto_app() as (http, ddb, _):
        from chalicelib.shared.settings import table_name

        events_table = table_name("EventsTable")
        described = ddb.describe_table(TableName=events_table)["Table"]
        indexes = {i["IndexName"]: i for i in described.get("GlobalSecondaryIndexes", [])}
        index = indexes.get("by_profile") or next(iter(indexes.values()), None)
        table_keys = [k["AttributeName"] for k in described["KeySchema"]]
        meter = Meter()
        ddb.meta.events.register("provide-client-params.dynamodb", meter.params)
        warm = [workload.message(rng.randrange(5000), 10**6 + i, workload.NOW, rng) for i in range(batch_size)]
        _post(http, "/v1/batch", json.dumps({"batch": warm}), io.StringIO())
        meter.clear()

        sink = io.StringIO()
        for b in range(batches):
            batch = [
                workload.message(rng.randrange(5000), b * batch_size + i, workload.NOW, rng) for i in range(batch_size)
            ]
            _post(http, "/v1/batch", json.dumps({"batch": batch}), sink)
        batched = _summary(meter, batches * batch_size, events_table, index, table_keys)
        batched["log_bytes_per_request"] = len(sink.getvalue().encode()) / batches
        meter.clear()

        # A browser SDK's batch: one visitor's events, stored as ONE group item (tracking/events.py `group_items`).
        for b in range(batches):
            visitor = rng.randrange(5000)
            batch = [
                workload.message(visitor, 500_000 + b * batch_size + i, workload.NOW, rng) for i in range(batch_size)
            ]
            _post(http, "/v1/batch", json.dumps({"batch": batch}), io.StringIO())
        visitor_batched = _summary(meter, batches * batch_size, events_table, index, table_keys)
        meter.clear()

        sink = io.StringIO()
        for i in range(singles):
            message = workload.message(rng.randrange(5000), 900_000 + i, workload.NOW, rng, "Product Viewed")
            message.pop("type")
            _post(http, "/v1/track", json.dumps(message), sink)
        single = _summary(meter, singles, events_table, index, table_keys)
        single["log_bytes_per_request"] = len(sink.getvalue().encode()) / singles
        fold = _fold_log_bytes()
    return {
        "index": {"name": index["IndexName"], "projection": index["Projection"]} if index else None,
        f"batches_of_{batch_size}": batched,
        f"one_visitor_batches_of_{batch_size}": visitor_batched,
        "single": single,
        "fold": fold,
    }


def _fold_log_bytes() -> dict[str, float]:
    """Stdout bytes (JSON logs + EMF) of every stream consumer the drain runs (the fold first), per fold invocation
    and per event folded."""
    from app import app
    from local.pump import StreamPump

    pump = StreamPump(app)
    calls: list[int] = []
    handler = app.handler_map["fold_events"]

    def counting(event: dict[str, Any], context: Any) -> Any:
        calls.append(len(event.get("Records", [])))
        return handler(event, context)

    app.handler_map["fold_events"] = counting
    sink = io.StringIO()
    handlers = _log_streams()
    saved = [h.setStream(sink) for h in handlers]
    try:
        with redirect_stdout(sink):
            pump.drain()
    finally:
        app.handler_map["fold_events"] = handler
        for h, stream in zip(handlers, saved, strict=True):
            h.setStream(stream if stream is not None else sys.stdout)
    total = len(sink.getvalue().encode())
    return {
        "invocations": len(calls),
        "records": sum(calls),
        "log_bytes_per_invocation": total / max(len(calls), 1),
        "log_bytes_per_record": total / max(sum(calls), 1),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
