"""The event archive: DuckDB over 1M archived events on this machine, and the archive's cost per million events
against keeping them in the DynamoDB events table.

    python -m bench.archive [--quick]

Events are synthetic but shaped like the stream writes them (tracking/archive.py: key, profile_id, type, event, ts,
body = the stored JSON): 80 % page views and product views, 15 % cart events, 5 % orders, over 30 days, one gzip
object per day as the nightly compaction leaves them (tracking/archive_maintenance.py).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# us-east-1 list prices read 2025-01 (S3 Standard and Standard-IA; DynamoDB on-demand after the Nov 2024 cut).
S3_PUT_PER_1000 = 0.005
S3_GET_PER_1000 = 0.0004
S3_STANDARD_GB_MONTH = 0.023
S3_IA_GB_MONTH = 0.0125
S3_IA_MIN_OBJECT_BYTES = 128 * 1024  # Standard-IA bills a smaller object as 128 KB
DYNAMODB_PER_MILLION_WRU = 0.625
DYNAMODB_GB_MONTH = 0.25
DYNAMODB_ITEM_OVERHEAD_BYTES = 100
DAYS = 30
AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36",
)
BATCH_SIZES = (500, 100, 10)  # events per stream batch: one PUT per batch and day


def _body(rng: random.Random, n: int, profile: str, ts: str) -> tuple[str, str, dict[str, Any]]:
    roll = rng.random()
    if roll < 0.05:
        value = round(rng.uniform(10, 200), 2)
        props = {"order_id": f"o-{n}", "revenue": value, "currency": "EUR", "products": [{"product_id": "sku-1"}]}
        return "track", "Order Completed", props
    if roll < 0.20:
        return "track", "Product Added", {"product_id": f"sku-{rng.randrange(500)}", "price": 49.0, "quantity": 1}
    if roll < 0.50:
        return "track", "Product Viewed", {"product_id": f"sku-{rng.randrange(500)}", "name": "Linen Shirt"}
    return "page", "", {"path": f"/c/{rng.randrange(40)}", "referrer": "https://www.google.com/", "title": "Shop"}


def write_archive(root: Path, events: int, seed: int = 7) -> dict[str, Any]:
    """`events` lines under root/events/dt=.../compacted-000001.json.gz; returns sizes."""
    from chalicelib.tracking.archive import encode, partition

    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    people = max(1, events // 20)
    per_day = events // DAYS
    raw_bytes = gzip_bytes = 0
    for d in range(DAYS):
        day = (start + timedelta(days=d)).strftime("%Y-%m-%d")
        lines = []
        for i in range(per_day if d < DAYS - 1 else events - per_day * (DAYS - 1)):
            n = d * per_day + i
            profile = f"p_{rng.randrange(people):08d}"
            ts = f"{day}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.000Z"
            kind, name, props = _body(rng, n, profile, ts)
            # Ids and context carry the entropy real events have (random ids compress poorly; agents repeat).
            body = {
                "type": kind,
                "messageId": f"{rng.getrandbits(128):032x}",
                "anonymousId": f"{rng.getrandbits(64):016x}-{int(profile[2:]) % 7}",
                "timestamp": ts,
                "properties": props,
                "context": {"userAgent": rng.choice(AGENTS), "page": {"url": f"https://shop.example/p/{n % 997}"}},
            }
            if name:
                body["event"] = name
            line = {"key": f"web#m-{n}", "profile_id": profile, "type": kind, "event": name or None, "ts": ts}
            line["body"] = json.dumps(body, separators=(",", ":"))
            raw_bytes += len(json.dumps(line, separators=(",", ":"))) + 1
            lines.append(line)
        blob = encode(lines)
        gzip_bytes += len(blob)
        folder = root / partition(day)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "compacted-000001.json.gz").write_bytes(blob)
    return {"events": events, "raw_bytes": raw_bytes, "gzip_bytes": gzip_bytes}


def cost_per_million(gzip_bytes_per_event: float, item_bytes_per_event: float) -> dict[str, Any]:
    """Per million events: the archive (PUTs by batch size, nightly compaction, a month of storage) against the
    events table (one write unit per KB written, a month of storage)."""
    gb = 1_000_000 * gzip_bytes_per_event / 1e9
    compaction = 1_000_000 / 100 * S3_GET_PER_1000 / 1000 + DAYS * S3_PUT_PER_1000 / 1000  # ~100-event objects read
    archive = {f"put_{size}_per_batch": round(1_000_000 / size * S3_PUT_PER_1000 / 1000, 4) for size in BATCH_SIZES}
    archive["compaction"] = round(compaction, 4)
    archive["storage_month_standard"] = round(gb * S3_STANDARD_GB_MONTH, 5)
    archive["storage_month_ia"] = round(gb * S3_IA_GB_MONTH, 5)
    # Without compaction, 100-event objects of a few KB are billed as 128 KB each in Standard-IA:
    archive["storage_month_ia_uncompacted_100"] = round(
        1_000_000 / 100 * S3_IA_MIN_OBJECT_BYTES / 1e9 * S3_IA_GB_MONTH, 4
    )
    wru = max(1.0, -(-item_bytes_per_event // 1024))
    dynamo_gb = 1_000_000 * (item_bytes_per_event + DYNAMODB_ITEM_OVERHEAD_BYTES) / 1e9
    dynamodb = {
        "writes": round(wru * DYNAMODB_PER_MILLION_WRU, 4),
        "writes_with_profile_index": round(2 * wru * DYNAMODB_PER_MILLION_WRU, 4),
        "storage_month": round(dynamo_gb * DYNAMODB_GB_MONTH, 4),
    }
    return {"archive": archive, "dynamodb": dynamodb, "gzip_gb_per_million": round(gb, 4)}


def run(quick: bool = False) -> dict[str, Any]:
    from local.archive_query import customers, events_per_day

    events = 5_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory(prefix="one2one-bench-archive-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        sizes = write_archive(root, events)
        written = time.perf_counter() - started
        started = time.perf_counter()
        days = events_per_day(root)
        per_day_seconds = time.perf_counter() - started
        started = time.perf_counter()
        buyers = customers(root, datetime(2026, 12, 1, tzinfo=UTC))
        customers_seconds = time.perf_counter() - started
    assert sum(n for _, n in days) == events, "every archived event counted once"
    gzip_per_event = sizes["gzip_bytes"] / events
    item_per_event = sizes["raw_bytes"] / events  # an events-table item holds about the same attributes
    return {
        "status": "ok",
        "events": events,
        "days": len(days),
        "buyers": len(buyers),
        "write_seconds": round(written, 2),
        "duckdb_events_per_day_seconds": round(per_day_seconds, 3),
        "duckdb_customers_seconds": round(customers_seconds, 3),
        "gzip_bytes_per_event": round(gzip_per_event, 1),
        "raw_bytes_per_event": round(item_per_event, 1),
        "cost_per_million": cost_per_million(gzip_per_event, item_per_event),
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Table rows for bench/__main__.py."""
    if result.get("status") != "ok":
        reason = result.get("reason", "not measured")
        return [{"figure": "Event archive", "value": f"n/a ({reason})", "target": "measured", "result": "-"}]
    cost = result["cost_per_million"]
    archive, dynamodb = cost["archive"], cost["dynamodb"]
    n = f"{result['events']:,}"
    return [
        {
            "figure": f"Archive, DuckDB locally: events per day over {n} archived events ({result['days']} days)",
            "value": f"{result['duckdb_events_per_day_seconds']:.2f} s",
            "target": "measured",
            "result": "-",
        },
        {
            "figure": f"Archive, DuckDB locally: CLV customer summary over {n} events ({result['buyers']:,} buyers)",
            "value": f"{result['duckdb_customers_seconds']:.2f} s",
            "target": "measured",
            "result": "-",
        },
        {
            "figure": f"Archive cost per 1M events ({result['gzip_bytes_per_event']:.0f} B gzip/event): PUTs at "
            "500 / 100 / 10 events a batch + nightly compaction; storage a month (Standard, IA)",
            "value": f"${archive['put_500_per_batch']:.3f} / ${archive['put_100_per_batch']:.3f} / "
            f"${archive['put_10_per_batch']:.3f} + ${archive['compaction']:.4f}; "
            f"${archive['storage_month_standard']:.4f}, ${archive['storage_month_ia']:.4f}",
            "target": "measured",
            "result": "-",
        },
        {
            "figure": f"  vs DynamoDB events table per 1M events ({result['raw_bytes_per_event']:.0f} B/item): "
            "writes (with the by_profile index the table no longer has); storage a month",
            "value": f"${dynamodb['writes']:.3f} (${dynamodb['writes_with_profile_index']:.3f}); "
            f"${dynamodb['storage_month']:.3f}",
            "target": "measured",
            "result": "-",
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.quick)
    print(json.dumps(result, indent=2))
    for row in rows(result):
        print(f"{row['figure']}: {row['value']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
