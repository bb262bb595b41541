"""Segment backfill: profiles evaluated per second by one worker on moto, and the modelled wall time and cost of
backfilling 1M and 10M profiles with the default parallelism.

One worker (one scan segment) runs the real adapters — DynamoDB parallel Scan, the StateTable cursor and job,
SQS — against in-process moto, over realistic stored profiles (the scoring bench's month of history), twice: the
first pass adds a segment a share of the profiles enters (each one written), the second finds nothing left to change
(no writes: what re-running a backfill costs).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.prices import PRICES

LAMBDA_MB = 1024  # .chalice/config.json lambda_functions.backfill_profiles.lambda_memory_size
# Lambda gives a function CPU in proportion to its memory: a full vCPU at 1,769 MB.
LAMBDA_CPU_SHARE = LAMBDA_MB / 1769
DDB_PUT_SECONDS = 0.008  # assumed in-region latency of one profile write (PutItem), paid in sequence by a worker
DDB_SCAN_PAGE_SECONDS = 0.030  # assumed latency of one Scan request (100 profiles, ~470 KB)
SQS_PER_MILLION_REQUESTS = 0.40  # standard queue, first 100 B requests a month
MEMBERSHIP_WRU = 4  # a segment entry: member item + size counter in one TransactWriteItems (2 items x 2)
PROFILES_PER_STEP = 3000  # ~45 s of work per message at the modelled rate: messages are a rounding error


@contextmanager
def _moto() -> Iterator[None]:
    from moto import mock_aws

    from chalicelib import bootstrap
    from chalicelib.shared.aws import reset_clients

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")}
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        reset_clients()
        bootstrap.reset()
        from local.provision import provision

        provision()
        try:
            yield
        finally:
            reset_clients()
            bootstrap.reset()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _config_with_segment(threshold: float) -> Any:
    from chalicelib.profiles.config import load_profile_config
    from chalicelib.profiles.segmentation import SegmentDef

    base = load_profile_config()
    new = SegmentDef.model_validate(
        {"name": "bench_backfill", "rule": {"field": "computed.cart_value", "op": "gte", "value": threshold}}
    )
    segments = base.segments.model_copy(update={"segments": [*base.segments.segments, new]})
    return base.model_copy(update={"segments": segments})


def _one_pass(service: Any, queue_url: str, segment_ids: list[str]) -> dict[str, Any]:
    """Start a job with one scan segment and work its chain off the queue as one worker would."""
    from chalicelib.profiles.backfill import decode_task
    from chalicelib.shared.aws import client

    sqs = client("sqs")
    started = time.perf_counter()
    cpu_started = time.process_time()
    job_id = service.start(segment_ids, "bench")
    steps = 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            break
        service.run(decode_task(messages[0]["Body"]))
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        steps += 1
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    job = service.status(job_id)
    assert job is not None and job.finished, job
    return {
        "steps": steps,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "evaluated": job.profiles_evaluated,
        "written": job.profiles_written,
        "profiles_per_second": job.profiles_evaluated / cpu,
    }


def measure(count: int) -> dict[str, Any]:
    from bench import scoring
    from chalicelib.bootstrap import get_fold_service, get_settings
    from chalicelib.profiles.adapters.dynamodb_backfill import (
        DynamoBackfillJobStore,
        DynamoProfileScan,
        SqsBackfillQueue,
    )
    from chalicelib.profiles.backfill import BackfillService
    from chalicelib.shared.aws import client
    from chalicelib.shared.clock import FakeClock

    world = scoring.World()
    sizes = scoring.warm_profiles(world, count, scoring.HISTORY_EVENTS)
    stored = sorted(s for _, s in sizes.values())
    scores = sorted(float(item_score) for item_score in _lead_scores(world.profiles.items.values()))
    threshold = scores[len(scores) // 2]  # about half the profiles enter: a segment of ordinary size
    with _moto():
        s = get_settings()
        ddb = client("dynamodb")
        items = list(world.profiles.items.values())
        for start in range(0, len(items), 25):
            request = {s.profiles_table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
            while request:
                request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        fold = get_fold_service()
        fold._config = _config_with_segment(threshold)
        fold.clock = FakeClock(scoring.workload.NOW)
        queue_url = client("sqs").get_queue_url(QueueName=s.backfill_queue)["QueueUrl"]
        service = BackfillService(
            DynamoProfileScan(s.profiles_table),
            DynamoBackfillJobStore(s.state_table),
            SqsBackfillQueue(s.backfill_queue, queue_url),
            fold,
            fold.clock,
            parallelism=1,
            max_pages_per_step=5,
        )
        first = _one_pass(service, queue_url, ["bench_backfill"])
        again = _one_pass(service, queue_url, ["bench_backfill"])
    assert first["evaluated"] == again["evaluated"] == count, (first, again)
    assert again["written"] == 0, again
    return {
        "profiles": count,
        "profile_stored_bytes_median": stored[len(stored) // 2],
        "first_pass": first,
        "second_pass": again,
    }


def _lead_scores(items: Any) -> Iterator[float]:
    from chalicelib.profiles.codec import body_dict

    for item in items:
        yield float(body_dict(item)["computed"].get("cart_value") or 0)


def model(measured: dict[str, Any], parallelism: int) -> dict[str, Any]:
    """Wall time and cost of one backfill of 1M and 10M profiles, from the measured per-worker rate."""
    first = measured["first_pass"]
    written_share = first["written"] / first["evaluated"]
    stored_kb = measured["profile_stored_bytes_median"] / 1024
    # Worker seconds per profile on Lambda: the measured CPU (moto's share included, conservatively) scaled to the
    # function's CPU share, plus DynamoDB latency paid in sequence.
    per_profile = (
        1 / (first["profiles_per_second"] * LAMBDA_CPU_SHARE)
        + written_share * DDB_PUT_SECONDS
        + DDB_SCAN_PAGE_SECONDS / 100
    )
    out: dict[str, Any] = {
        "parallelism": parallelism,
        "lambda_mb": LAMBDA_MB,
        "written_share": written_share,
        "worker_profiles_per_second_on_lambda": 1 / per_profile,
    }
    out["parallelism_for_10m_in_10_minutes"] = math.ceil(10_000_000 * per_profile / 600)
    for n in (1_000_000, 10_000_000):
        wall = n * per_profile / parallelism
        scan_rru = n * stored_kb / 4 * 0.5  # eventually consistent: half a unit per 4 KB, summed over a page
        write_wru = n * written_share * (math.ceil(stored_kb) + 1 + MEMBERSHIP_WRU)
        lambda_gb_seconds = n * per_profile * LAMBDA_MB / 1024
        messages = n / PROFILES_PER_STEP + parallelism
        cost = {
            "dynamodb_scan_reads": scan_rru * PRICES["dynamodb_per_million_rru"] / 1e6,
            "dynamodb_writes": write_wru * PRICES["dynamodb_per_million_wru"] / 1e6,
            "lambda": lambda_gb_seconds * PRICES["lambda_per_gb_second"]
            + messages * PRICES["lambda_per_million_requests"] / 1e6,
            "sqs": 3 * messages * SQS_PER_MILLION_REQUESTS / 1e6,
        }
        cost["total"] = sum(cost.values())
        out[str(n)] = {"wall_seconds": wall, "scan_rru": scan_rru, "write_wru": write_wru, "cost": cost}
    return out


def run(quick: bool = False) -> dict[str, Any]:
    from chalicelib.profiles.backfill import DEFAULT_PARALLELISM

    measured = measure(200 if quick else 2000)
    return {**measured, "model": model(measured, DEFAULT_PARALLELISM)}
