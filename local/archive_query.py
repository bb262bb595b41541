"""Query the event archive locally with DuckDB (a developer tool: duckdb is in requirements-dev.txt, never the zip).

    python -m local.archive_query events-per-day [--type "Order Completed"]
    python -m local.archive_query customers [--end 2026-12-31] > summary.csv   # then: python -m chalicelib.predictions

The archive objects are copied from the bucket (`ARCHIVE_BUCKET`, at `AWS_ENDPOINT_URL`: the local stack's moto) into
a temporary directory, keeping their `events/dt=.../` keys, and read with `read_json_auto(..., hive_partitioning)`;
`--dir` reads a directory of such files instead. Lines are deduplicated on the event key: a stream batch that Lambda
split on a retry is archived under a second object key (tracking/archive.py). In AWS the same questions are Athena SQL
over the Glue table `events` (infra/resources.json), whose partition projection needs no crawler.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# One row per event key: the newest copy wins (they are identical; the ORDER BY only makes the pick deterministic).
EVENTS = """
SELECT * EXCLUDE (rn) FROM (
  SELECT *, row_number() OVER (PARTITION BY key ORDER BY filename DESC) AS rn
  FROM read_json_auto(?, hive_partitioning = true, filename = true, format = 'newline_delimited',
                      columns = {key: 'VARCHAR', profile_id: 'VARCHAR', type: 'VARCHAR', event: 'VARCHAR',
                                 ts: 'VARCHAR', body: 'VARCHAR'})
) WHERE rn = 1
"""

PER_DAY = "SELECT dt, count(*) AS events FROM ({events}) {where} GROUP BY dt ORDER BY dt"

# Verified orders only (the fold's rule: an unverified client claim buys nothing); revenue as the fold reads it first
# (`revenue`, else `total`). Time in days, as chalicelib.predictions expects: recency = first to last order,
# T = first order to the end of the observation, monetary_value = mean value of the repeat orders (0 without any).
CUSTOMERS = """
WITH orders AS (
  SELECT profile_id, CAST(ts AS TIMESTAMPTZ) AS ordered_at,
         coalesce(TRY_CAST(json_extract_string(body, '$.properties.revenue') AS DOUBLE),
                  TRY_CAST(json_extract_string(body, '$.properties.total') AS DOUBLE), 0) AS value,
         row_number() OVER (PARTITION BY profile_id ORDER BY ts) AS n
  FROM ({events})
  WHERE event = 'Order Completed' AND coalesce(json_extract_string(body, '$.unverified'), 'false') <> 'true'
)
SELECT profile_id AS customer_id,
       count(*) - 1 AS frequency,
       round(epoch(max(ordered_at) - min(ordered_at)) / 86400.0, 4) AS recency,
       round(epoch(CAST(? AS TIMESTAMPTZ) - min(ordered_at)) / 86400.0, 4) AS "T",
       round(coalesce(avg(value) FILTER (WHERE n > 1), 0), 2) AS monetary_value
FROM orders GROUP BY profile_id ORDER BY customer_id
"""


def download(target: Path, bucket: str | None = None) -> int:
    """Copy every `events/` object of the archive bucket under `target`, keeping its key; returns how many."""
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import resource_name

    s3, name = client("s3"), bucket or resource_name("ArchiveBucket")
    copied = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix="events/"):
        for item in page.get("Contents", []):
            path = target / item["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(name, item["Key"], str(path))
            copied += 1
    return copied


def events_per_day(root: Path, event_type: str | None = None) -> list[tuple[str, int]]:
    import duckdb

    where = "WHERE coalesce(event, type) = ?" if event_type else ""
    params: list[Any] = [_glob(root)] + ([event_type] if event_type else [])
    if not any(root.glob("events/dt=*/*.json.gz")):
        return []
    rows = duckdb.connect().execute(PER_DAY.format(events=EVENTS, where=where), params).fetchall()
    return [(str(dt), int(n)) for dt, n in rows]


def customers(root: Path, end: datetime) -> list[tuple[Any, ...]]:
    import duckdb

    if not any(root.glob("events/dt=*/*.json.gz")):
        return []
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con.execute(CUSTOMERS.format(events=EVENTS), [_glob(root), end.isoformat()]).fetchall()


def _glob(root: Path) -> str:
    return str(root / "events" / "dt=*" / "*.json.gz")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.archive_query", description=__doc__.split("\n\n")[0])
    parser.add_argument("query", choices=("events-per-day", "customers"))
    parser.add_argument("--type", help="only this event name (track) or type (page, identify, ...)")
    parser.add_argument("--end", help="end of the observation for T (ISO date or time, UTC); default now")
    parser.add_argument("--dir", type=Path, help="read archive files under this directory instead of the bucket")
    parser.add_argument("--bucket", help="the archive bucket (default: ARCHIVE_BUCKET or one2one-archive)")
    args = parser.parse_args(argv)
    try:
        end = datetime.fromisoformat(args.end).replace(tzinfo=UTC) if args.end else datetime.now(UTC)
    except ValueError:
        parser.error(f"--end {args.end!r} is not an ISO date or time")
    with tempfile.TemporaryDirectory(prefix="one2one-archive-") as tmp:
        root = args.dir or Path(tmp)
        if args.dir is None:
            download(root, args.bucket)
        out = csv.writer(sys.stdout, lineterminator="\n")
        if args.query == "events-per-day":
            out.writerow(("day", "events"))
            out.writerows(events_per_day(root, args.type))
        else:
            out.writerow(("customer_id", "frequency", "recency", "T", "monetary_value"))
            out.writerows(customers(root, end))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
