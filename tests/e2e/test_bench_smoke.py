"""`python -m bench --quick` completes, prints the one table and writes its JSON with every expected figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_prints_the_table_and_writes_latest_json(tmp_path):
    # WHEN the benchmarks run in quick mode (tiny N, as CI runs them), writing outside the repository
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # it shares two cores with the other pytest worker
    )
    # THEN they finish, print one table with a result for every figure, and write it as JSON
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| figure" in done.stdout and "Prices (us-east-1 list prices" in done.stdout
    document = json.loads((tmp_path / "latest.json").read_text())
    assert document["quick"] is True
    assert set(document["machine"]) >= {"nproc", "cpu", "python"}
    assert set(document["results"]) == {
        "cold_start",
        "ingest",
        "scoring",
        "scoring_instructions",
        "end_to_end",
        "memory",
        "backfill",
        "imports",
        "sending_rate",
        "recommendations",
        "propensity",
        "cost",
        "catalog",
        "archive",
        "inapp",
    }
    assert document["results"]["archive"]["status"] == "ok", document["results"]["archive"]
    assert "model" in document["results"]["backfill"], document["results"]["backfill"]
    assert "model" in document["results"]["imports"], document["results"]["imports"]
    assert document["results"]["scoring_instructions"]["status"] == "n/a"  # valgrind runs in the full benchmark only
    figures = " ".join(row["figure"] for row in document["table"])
    for expected in (
        "Cold start",
        "Ingest",
        "write requests per event",
        "Scoring",
        "End to end",
        "Peak RSS",
        "Metered AWS cost per 1M events",
        "Segment backfill",
        "fan-out",
        "Interest index",
        "Archive, DuckDB locally",
        "Archive cost per 1M events",
        "In-app fetch",
    ):
        assert expected in figures
    assert all(row["result"] in {"pass", "MISS", "-"} for row in document["table"])
    results = document["results"]
    assert results["cold_start"]["ratio"] > 0
    assert results["ingest"]["write_requests_per_event_batched"] <= 0.05
    assert all(m["profile_writes_per_batch"] == m["distinct_profiles"] for m in results["scoring"]["mixes"])
    # timing rows carry their spread over the rounds; the worst batch shape is held to 5x a shard's write rate
    assert all(low <= high for m in results["scoring"]["mixes"] for low, high in [m["records_per_second_range"]])
    scoring_rows = [row for row in document["table"] if row["figure"].startswith("Scoring")]
    assert scoring_rows[0]["target"] == ">= 20,000/s" and scoring_rows[-1]["target"].startswith(">= 5,000/s")
    assert all("range" in row["value"] for row in scoring_rows)
    # the end-to-end rows run on a fixed local clock: the welcome mail always arrives (else the run exits non-zero)
    end_to_end = results["end_to_end"]
    assert end_to_end["status"] == "ok", end_to_end
    assert 0 < end_to_end["p50_seconds"] <= end_to_end["max_seconds"]
    assert 0 < end_to_end["profile_visible"]["p50_seconds"] <= end_to_end["profile_visible"]["max_seconds"]
    assert "beacon -> profile visible" in figures and "beacon -> welcome email" in figures
    # the cost is metered on the real pipeline: every workload priced line by line, each price dated
    cost = results["cost"]
    assert cost["prices_as_of"] and all(cost["price_dates"].values())
    assert set(cost["per_million_events"]) == {
        "1_event_per_request/realistic",
        "1_event_per_request/1_event_per_profile",
        "batches_of_20/realistic",
        "batches_of_20/1_event_per_profile",
    }
    for model in cost["per_million_events"].values():
        assert model["total"] == pytest.approx(sum(model["lines"].values()))
        kinds = set(model["by_kind"])
        assert {"dynamodb writes", "dynamodb reads", "lambda_requests", "lambda_duration", "cloudwatch_logs"} <= kinds
        assert any(name.startswith("api_gateway_") for name in kinds)
    batched = cost["per_million_events"]["batches_of_20/realistic"]["lines"]
    assert any(name.startswith("s3_put_requests/") for name in batched)  # the archive PUT of each batch-day
    assert any(name.startswith("ses_emails/") for name in batched)  # the sign-ups' welcome mails went out
    assert "| line item ($ per 1M events)" in done.stdout
    month = cost["per_10k_monthly_active_profiles"]
    assert month["pinpoint"] > 0 and month["segment_team_cdp_only"] > 0
    rate = results["sending_rate"]  # the shared sending rate on the real send path, fake clock
    assert rate["status"] == "ok", rate
    assert (rate["throttled"], rate["duplicates"], rate["lost"]) == (0, 0, 0)
    assert rate["rate_both_kinds"]["max"] <= rate["rate"] and "Sending rate" in figures
