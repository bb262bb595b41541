"""The customer summary by Athena over the archive's Glue table (AWS): one query in the stack's workgroup, its CSV
result read from the query's S3 output location (one GET, not pages of GetQueryResults).

The SQL is the Trino form of local/archive_query.py's DuckDB `customers` query and of
predictions/archive_summary.py; tests compare the three on the same archive where they can run (DuckDB and Python)
and check this text and the parsing of a result (moto's Athena runs no SQL).
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

from chalicelib.predictions.ports import CustomerSummary
from chalicelib.shared.aws import client

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
POLL_SECONDS = 2.0
MAX_WAIT_SECONDS = 600.0  # the fitting function has 15 minutes; a summary of 100M events scans in about one

CUSTOMERS_SQL = """
WITH events AS (
  SELECT key, profile_id, ts, body,
         row_number() OVER (PARTITION BY key ORDER BY "$path" DESC) AS rn
  FROM "{database}"."{table}"
  WHERE event = 'Order Completed'
), orders AS (
  SELECT profile_id, from_iso8601_timestamp(ts) AS ordered_at,
         coalesce(try_cast(json_extract_scalar(body, '$.properties.revenue') AS double),
                  try_cast(json_extract_scalar(body, '$.properties.total') AS double), 0) AS value,
         row_number() OVER (PARTITION BY profile_id ORDER BY ts) AS n
  FROM events
  WHERE rn = 1 AND coalesce(lower(json_extract_scalar(body, '$.unverified')), 'false') <> 'true'
)
SELECT profile_id AS customer_id,
       count(*) - 1 AS frequency,
       round((to_unixtime(max(ordered_at)) - to_unixtime(min(ordered_at))) / 86400.0, 4) AS recency,
       round((to_unixtime(from_iso8601_timestamp('{end}')) - to_unixtime(min(ordered_at))) / 86400.0, 4) AS "T",
       round(coalesce(avg(value) FILTER (WHERE n > 1), 0), 2) AS monetary_value
FROM orders GROUP BY profile_id ORDER BY customer_id
"""


class AthenaQueryFailed(RuntimeError):
    """The query ended FAILED or CANCELLED (the reason Athena gave), or did not end in time."""


def customers_sql(database: str, table: str, end: datetime) -> str:
    """The query text; names are checked (they are quoted identifiers) and `end` is our own UTC timestamp."""
    for name in (database, table):
        if not _NAME.match(name):
            raise ValueError(f"not a Glue name: {name!r}")
    stamp = end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return CUSTOMERS_SQL.format(database=database, table=table, end=stamp)


def parse_result(body: bytes) -> list[CustomerSummary]:
    """Athena's CSV output (a header line, every value quoted) as summaries."""
    reader = csv.DictReader(io.StringIO(body.decode("utf-8")))
    return [
        CustomerSummary(
            customer_id=row["customer_id"],
            frequency=int(row["frequency"]),
            recency=float(row["recency"]),
            T=float(row["T"]),
            monetary_value=float(row["monetary_value"]),
        )
        for row in reader
    ]


def _bucket_and_key(location: str) -> tuple[str, str]:
    if not location.startswith("s3://"):
        raise AthenaQueryFailed(f"unexpected output location {location!r}")
    bucket, _, key = location[5:].partition("/")
    return bucket, key


class AthenaCustomerSource:
    def __init__(
        self,
        workgroup: str,
        database: str,
        table: str,
        output_location: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        poll_seconds: float = POLL_SECONDS,
        max_wait_seconds: float = MAX_WAIT_SECONDS,
    ) -> None:
        self.workgroup = workgroup
        self.database = database
        self.table = table
        # The workgroup enforces its own output location in AWS; this one is what a workgroup without one uses.
        self.output_location = output_location
        self.sleep = sleep
        self.poll_seconds = poll_seconds
        self.max_wait_seconds = max_wait_seconds

    def summaries(self, end: datetime) -> list[CustomerSummary]:
        athena = client("athena")
        execution_id = athena.start_query_execution(
            QueryString=customers_sql(self.database, self.table, end),
            QueryExecutionContext={"Database": self.database},
            WorkGroup=self.workgroup,
            ResultConfiguration={"OutputLocation": self.output_location},
        )["QueryExecutionId"]
        waited = 0.0
        while True:
            execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
            state = execution["Status"]["State"]
            if state == "SUCCEEDED":
                break
            if state in ("FAILED", "CANCELLED"):
                reason = execution["Status"].get("StateChangeReason", "")
                raise AthenaQueryFailed(f"customer summary query {execution_id} {state}: {reason}")
            if waited >= self.max_wait_seconds:
                athena.stop_query_execution(QueryExecutionId=execution_id)
                raise AthenaQueryFailed(f"customer summary query {execution_id} still {state} after {waited:.0f} s")
            self.sleep(self.poll_seconds)
            waited += self.poll_seconds
        bucket, key = _bucket_and_key(execution["ResultConfiguration"]["OutputLocation"])
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        try:
            return parse_result(body.read())
        finally:
            body.close()
