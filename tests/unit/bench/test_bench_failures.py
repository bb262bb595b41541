"""The bench fails loudly, naming what is missing: a price, a priced call, an email that never came."""

from __future__ import annotations

import pytest

from bench.__main__ import _section, cost_rows, end_to_end_rows
from bench.pipeline import ESM, Meter, UnpricedCall
from bench.prices import MissingPrice


def test_a_missing_price_is_not_swallowed_as_an_na_section():
    def priced_without_the_price() -> dict:
        raise MissingPrice("apigw_http_per_million_requests")

    with pytest.raises(MissingPrice, match="apigw_http_per_million_requests"):
        _section("cost", priced_without_the_price)


def test_any_other_failure_of_a_section_stays_a_named_na():
    def broken() -> dict:
        raise RuntimeError("moto went away")

    result = _section("scoring", broken)
    assert result["status"] == "n/a" and "moto went away" in result["reason"]


def test_a_call_the_meter_cannot_price_stops_the_run_naming_it():
    meter = Meter(lambda *args: {}, {})
    with pytest.raises(UnpricedCall, match="kinesis:PutRecord"):
        meter.other("fold_events", "kinesis", "PutRecord", {}, None)


def test_the_pollers_bill_only_receives_that_returned_messages():
    meter = Meter(lambda *args: {}, {})
    meter.other(ESM, "sqs", "ReceiveMessage", {}, {"Messages": []})
    meter.other(ESM, "sqs", "ReceiveMessage", {}, {"Messages": [{"Body": "x"}]})
    meter.other(ESM, "sns", "ListTopics", {}, {})  # the local pump's own lookups are not the product's bill
    meter.other("run_scenarios", "sqs", "SendMessageBatch", {"Entries": [{"MessageBody": "x" * 70_000}]}, {})
    assert meter.quantities == {
        ("sqs_requests", "ReceiveMessage", ESM): 1,
        ("sqs_requests", "SendMessageBatch", "run_scenarios"): 2,  # 70 KB: two 64 KB chunks
    }


def test_an_end_to_end_run_without_its_email_is_a_failed_row_naming_it():
    rows = end_to_end_rows({"status": "failed", "reason": "run 0: the welcome email within 30 s"})
    assert rows[0]["result"] == "MISS" and "FAILED: run 0: the welcome email" in rows[0]["value"]


def test_cost_rows_hold_batched_events_to_one_dollar_and_single_to_two_fifty():
    def model(total: float, ses: float = 0.0) -> dict:
        return {"total": total, "by_kind": {"ses_emails": ses} if ses else {}}

    cost = {
        "api_type": "http",
        "per_million_events": {
            "1_event_per_request/realistic": model(2.6, ses=0.2),  # 2.40 without the emails: pass
            "1_event_per_request/1_event_per_profile": model(2.6),
            "batches_of_20/realistic": model(0.9),
            "batches_of_20/1_event_per_profile": model(1.2),
        },
        "per_10k_monthly_active_profiles": {
            "ours": {"batches_of_20/realistic": 5.0},
            "pinpoint": 11.0,
            "segment_team_cdp_only": 120.0,
        },
        "assumptions": {"events_per_profile_month": 100, "emails_per_profile_month": 4},
    }
    results = [row["result"] for row in cost_rows(cost)]
    assert results == ["pass", "MISS", "pass", "MISS", "pass"]
