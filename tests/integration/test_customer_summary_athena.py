"""The CLV job's Athena source: its query text (moto's Athena runs no SQL: it answers canned results, so the SQL is
checked here against the DuckDB query it mirrors), the calls it makes on moto, and the parsing of Athena's CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.predictions.adapters.athena_summary import (
    AthenaCustomerSource,
    AthenaQueryFailed,
    customers_sql,
    parse_result,
)
from chalicelib.predictions.ports import CustomerSummary

END = datetime(2026, 12, 1, 10, tzinfo=UTC)
RESULT = (
    b'"customer_id","frequency","recency","T","monetary_value"\n'
    b'"p_a","0","0.0","91.0","0.0"\n'
    b'"p_b","2","111.25","122.4167","35.0"\n'
)


def test_the_query_mirrors_the_duckdb_customers_query_in_trino_sql() -> None:
    sql = customers_sql("one2one_archive", "events", END)

    assert 'FROM "one2one_archive"."events"' in sql
    assert "WHERE event = 'Order Completed'" in sql
    # each event key once (a split stream batch is archived twice), verified orders only
    assert 'row_number() OVER (PARTITION BY key ORDER BY "$path" DESC) AS rn' in sql and "WHERE rn = 1" in sql
    assert "json_extract_scalar(body, '$.unverified')" in sql
    # revenue, else total, else 0; repeat orders' mean; the end of the observation as our own UTC literal
    assert sql.index("'$.properties.revenue'") < sql.index("'$.properties.total'")
    assert "avg(value) FILTER (WHERE n > 1)" in sql
    assert "from_iso8601_timestamp('2026-12-01T10:00:00Z')" in sql
    from local.archive_query import CUSTOMERS

    for column in ("customer_id", "frequency", "recency", '"T"', "monetary_value"):
        assert f"AS {column}" in sql and f"AS {column}" in CUSTOMERS


@pytest.mark.parametrize("name", ["db; DROP TABLE x", 'a"b', ""])
def test_a_name_that_is_not_a_glue_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a Glue name"):
        customers_sql(name, "events", END)


def test_athena_csv_is_parsed_into_summaries() -> None:
    assert parse_result(RESULT) == [
        CustomerSummary("p_a", 0, 0.0, 91.0, 0.0),
        CustomerSummary("p_b", 2, 111.25, 122.4167, 35.0),
    ]


def test_the_source_runs_the_query_in_the_workgroup_and_reads_the_output_object(aws: dict[str, Any]) -> None:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import resource_name

    bucket = resource_name("ArchiveBucket")
    client("athena").create_work_group(Name="wg-test")
    started: list[dict[str, Any]] = []

    def write_result(http_response: Any, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        # moto runs nothing: put the result where Athena would write it, at the execution's output location
        location = parsed["QueryExecution"]["ResultConfiguration"]["OutputLocation"]
        client("s3").put_object(Bucket=bucket, Key=location.split(f"s3://{bucket}/", 1)[1], Body=RESULT)

    def record(params: dict[str, Any], **kwargs: Any) -> None:
        started.append(params)

    athena = client("athena")
    athena.meta.events.register("after-call.athena.GetQueryExecution", write_result)
    athena.meta.events.register("provide-client-params.athena.StartQueryExecution", record)
    source = AthenaCustomerSource("wg-test", "one2one_archive", "events", f"s3://{bucket}/athena-results/")

    rows = source.summaries(END)

    assert [r.customer_id for r in rows] == ["p_a", "p_b"]
    [params] = started
    assert params["WorkGroup"] == "wg-test" and params["QueryExecutionContext"] == {"Database": "one2one_archive"}
    assert params["QueryString"] == customers_sql("one2one_archive", "events", END)


def test_a_failed_query_raises_with_athenas_reason(aws: dict[str, Any]) -> None:
    from chalicelib.shared.aws import client

    client("athena").create_work_group(Name="wg-test")

    def failed(http_response: Any, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        parsed["QueryExecution"]["Status"] = {"State": "FAILED", "StateChangeReason": "TABLE_NOT_FOUND"}

    client("athena").meta.events.register("after-call.athena.GetQueryExecution", failed)
    source = AthenaCustomerSource("wg-test", "db", "events", "s3://one2one-archive/athena-results/")
    with pytest.raises(AthenaQueryFailed, match="TABLE_NOT_FOUND"):
        source.summaries(END)
