"""Bulk import: rows per second of one import worker on moto (people and orders files), and the modelled wall time
and cost of importing 1M and 10M rows with the parallelism the chunking gives (one worker per 8 MB chunk).

The worker runs the real adapters (S3 ranged reads, the StateTable job and markers, SQS) and the real ingest use case
(identity lookups, BatchWriteItem of events) against in-process moto; the fold that follows (the events stream) is
the scoring bench's figure and is priced here from its write units only.
"""

from __future__ import annotations

import math
import time
from typing import Any

from bench.backfill import _moto
from bench.prices import PRICES

LAMBDA_MB = 1024  # .chalice/config.json lambda_functions.import_files.lambda_memory_size
LAMBDA_CPU_SHARE = LAMBDA_MB / 1769
# Assumed in-region latencies paid in sequence per batch of 100 rows: one BatchGetItem of identities, four
# BatchWriteItems of events (25 each).
DDB_BATCH_SECONDS = 0.010 + 4 * 0.015
MAX_WORKERS = 100  # the import queue's concurrency we plan for: DynamoDB on-demand absorbs ~100 x 1,500 writes/s
EVENT_WRU = 1  # the event item (< 1 KB); the table has no index since it is keyed by profile (issue 19)
PROFILE_WRU = 6  # the fold's profile write (~4.7 KB stored -> 5 WRU) + the identity record on first sight
SQS_PER_MILLION_REQUESTS = 0.40


def _people(n: int) -> bytes:
    rows = ["user_id,email,first_name,plan,email_consent,email_consent_source,email_consent_at"]
    rows += [f"u{i},u{i}@example.com,Name{i},gold,yes,crm,2024-01-01T00:00:00Z" for i in range(n)]
    return ("\n".join(rows) + "\n").encode()


def _orders(n: int) -> bytes:
    rows = ["order_id,user_id,ordered_at,revenue,currency,store,lines"]
    line = '"[{""sku"": ""A1"", ""quantity"": 1, ""price"": 19.9}]"'
    rows += [f"o{i},u{i % 5000},2024-02-{1 + i % 28:02d}T10:00:00Z,19.90,EUR,s1,{line}" for i in range(n)]
    return ("\n".join(rows) + "\n").encode()


def _one(kind: str, body: bytes) -> dict[str, Any]:
    from chalicelib.bootstrap import get_import_service, get_settings
    from chalicelib.imports import decode_task
    from chalicelib.shared.aws import client

    service = get_import_service()
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().import_queue)["QueueUrl"]
    started, cpu_started = time.perf_counter(), time.process_time()
    job, _ = service.start_upload(kind, body, f"bench.{kind}.csv")
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            break
        if "import_id" in messages[0]["Body"]:  # S3 notifications of the upload: the job is already started
            service.run(decode_task(messages[0]["Body"]))
        sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    done = service.status(job.import_id)
    assert done is not None and done.finished_at and done.rows_rejected == 0, done
    rows = done.rows_accepted
    return {
        "rows": rows,
        "bytes": len(body),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "events": done.messages,
        "rows_per_second": rows / cpu,
        "bytes_per_row": len(body) / rows,
    }


def measure(count: int) -> dict[str, Any]:
    with _moto():
        return {"people": _one("people", _people(count)), "orders": _one("orders", _orders(count))}


def model(measured: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.imports.ranges import CHUNK_BYTES

    out: dict[str, Any] = {"lambda_mb": LAMBDA_MB, "chunk_mb": CHUNK_BYTES / 2**20, "max_workers": MAX_WORKERS}
    for kind, figures in measured.items():
        per_row = 1 / (figures["rows_per_second"] * LAMBDA_CPU_SHARE) + DDB_BATCH_SECONDS / 100
        events_per_row = figures["events"] / figures["rows"]
        kind_out: dict[str, Any] = {"worker_rows_per_second_on_lambda": 1 / per_row}
        for n in (1_000_000, 10_000_000):
            size = n * figures["bytes_per_row"]
            chunks = max(1, math.ceil(size / CHUNK_BYTES))
            workers = min(chunks, MAX_WORKERS)
            wall = math.ceil(chunks / workers) * (n / chunks) * per_row
            wru = n * events_per_row * EVENT_WRU + (n if kind == "people" else n / 5) * PROFILE_WRU
            cost = {
                "lambda": n * per_row * LAMBDA_MB / 1024 * PRICES["lambda_per_gb_second"],
                "dynamodb_writes": wru * PRICES["dynamodb_per_million_wru"] / 1e6,
                "dynamodb_reads": n * 0.5 * PRICES["dynamodb_per_million_rru"] / 1e6,  # identity lookups, batched
                "sqs": 3 * 2 * chunks * SQS_PER_MILLION_REQUESTS / 1e6,
            }
            cost["total"] = sum(cost.values())
            kind_out[str(n)] = {"chunks": chunks, "workers": workers, "wall_seconds": wall, "wru": wru, "cost": cost}
        out[kind] = kind_out
    return out


def run(quick: bool = False) -> dict[str, Any]:
    measured = measure(300 if quick else 3000)
    return {"measured": measured, "model": model(measured)}


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Table rows for bench/__main__.py."""
    if "model" not in result:
        reason = result.get("reason", "not measured")
        return [{"figure": "Bulk import", "value": f"n/a ({reason})", "target": "measured", "result": "-"}]
    out = []
    for kind in ("people", "orders"):
        figures, model_kind = result["measured"][kind], result["model"][kind]
        million, ten = model_kind["1000000"], model_kind["10000000"]
        out += [
            {
                "figure": f"Bulk import, 1 worker, AWS faked (moto): {figures['rows']:,} {kind} rows",
                "value": f"{figures['rows_per_second']:,.0f} rows/s per CPU-second ({figures['events']} events)",
                "target": "measured",
                "result": "-",
            },
            {
                "figure": f"  modelled: 1M {kind} rows, {million['workers']} workers x "
                f"{model_kind['worker_rows_per_second_on_lambda']:,.0f}/s ({LAMBDA_MB} MB Lambda)",
                "value": f"{million['wall_seconds'] / 60:.1f} min, ${million['cost']['total']:.2f}",
                "target": "measured",
                "result": "-",
            },
            {
                "figure": f"  modelled: 10M {kind} rows, {ten['workers']} workers ({ten['chunks']} chunks)",
                "value": f"{ten['wall_seconds'] / 60:.1f} min, ${ten['cost']['total']:.2f}",
                "target": "measured",
                "result": "-",
            },
        ]
    return out
