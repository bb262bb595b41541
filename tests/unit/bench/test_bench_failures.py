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
    def model(events: float, sending: float = 0.0, per_1000: float | None = None) -> dict:
        return {
            "total": events + sending,
            "events_total": events,
            "sending_total": sending,
            "messages_per_million_events": 20_000.0 if per_1000 is not None else 0.0,
            "sending_per_1000_messages": per_1000,
        }

    cost = {
        "api_type": "http",
        "per_million_events": {
            # 2.40 for the events, whatever the sending costs: pass; its sending at $0.02 per 1,000: pass
            "1_event_per_request/realistic": model(2.4, sending=0.6, per_1000=0.02),
            "1_event_per_request/1_event_per_profile": model(2.6),
            "batches_of_20/realistic": model(0.9, sending=3.0, per_1000=0.15),  # sending dearer than SES: MISS
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
    assert results == ["pass", "pass", "MISS", "pass", "MISS", "MISS", "pass"]


def test_the_sending_pipeline_is_told_apart_by_function_and_by_what_the_scenario_consumer_hands_to_it():
    from bench.cost import is_sending

    sending = [
        "lambda_duration/deliver_steps (256 MB)",
        "cloudwatch_logs/ses_feedback",
        "dynamodb_wru/one2one-messages (run_scenarios)",
        "dynamodb_wru/one2one-messages/by_attention (run_scenarios)",
        "dynamodb_wru/one2one-due (deliver_steps)",
        "sqs_requests/SendMessageBatch (run_scenarios)",
        "sqs_requests/DeleteMessage ((event sources: pollers, SES events))",
        "ses_emails/SendEmail (deliver_steps)",
    ]
    events = [
        "api_gateway_http",
        "lambda_requests/run_scenarios",
        "dynamodb_wru/one2one-state (run_scenarios)",
        "dynamodb_wru/one2one-events (api_handler)",
        "dynamodb_wru/one2one-profiles/by_due_day (fold_events)",
        "cloudwatch_logs/fold_events",
        "dynamodb_wru/run-conversions:one2one-messages (run_scenarios)",  # an order on a run record: not a send
        "dynamodb_wru/run-conversions:one2one-messages/by_conversion (run_scenarios)",
    ]
    assert [line for line in sending if not is_sending(line)] == []
    assert [line for line in events if is_sending(line)] == []


def test_the_meter_labels_a_run_record_conversion_by_what_it_is_and_other_writes_by_their_table():
    from bench.pipeline import RUN_CONVERSION_PURPOSE, write_purpose

    conversion = {"UpdateExpression": "SET converted = if_not_exists(converted, :shard) ADD run_conversions :one"}
    step = {"UpdateExpression": "SET #s = :status, step_index = :index, body = :body, expires_at = :expires"}
    assert write_purpose("UpdateItem", conversion) == RUN_CONVERSION_PURPOSE
    assert write_purpose("UpdateItem", step) == ""
    assert write_purpose("PutItem", {"Item": {}}) == ""
