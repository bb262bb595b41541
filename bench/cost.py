"""Modelled AWS cost per million events and per 10,000 monthly active profiles, from measured counts and durations."""

from __future__ import annotations

import math
from typing import Any

from bench.prices import PRICES, PRICES_AS_OF

LAMBDA_GB = 256 / 1024  # .chalice/config.json lambda_memory_size
DDB_ROUND_TRIP_SECONDS = 0.005  # assumed in-region DynamoDB request latency, added to the faked fold's CPU time
RECORDS_PER_FOLD_INVOCATION = 100  # assumed typical stream batch under the 1 s batching window
IDENTITY_KEYS_PER_EVENT = 2  # userId and/or anonymousId looked up at ingest (1 RRU each, strongly consistent)
EVENTS_PER_PROFILE_MONTH = 100  # assumed activity of a monthly active profile
EMAILS_PER_PROFILE_MONTH = 4  # assumed; SES and Pinpoint email sends cost the same $0.10 per 1,000


def _billed_gb_seconds(seconds: float) -> float:
    return math.ceil(seconds * 1000) / 1000 * LAMBDA_GB  # Lambda bills per started millisecond


def per_million_events(
    events_per_request: int, ingest: dict[str, Any], scoring_mix: dict[str, Any], profile_kb: float
) -> dict[str, float]:
    """Dollars per million events, split by line item. Ingest figures come from the moto run, fold from the fake run."""
    requests = 1e6 / events_per_request
    if events_per_request == 1:
        ingest_seconds = ingest["single_request_seconds"]
    else:
        ingest_seconds = ingest["handler_seconds_per_event"] * events_per_request
    event_wru = 2 * ingest["event_wru_per_item"]  # the item + its copy in the by_profile GSI (projection ALL)
    events_per_profile = scoring_mix["records"] / scoring_mix["distinct_profiles"]
    profile_wru = math.ceil(profile_kb) + 1  # the profile item + the sparse by_due_day GSI (keys only)
    profile_rru = math.ceil(profile_kb / 4)  # one strongly consistent read per profile per batch
    fold_requests = scoring_mix["write_requests_per_batch"] + scoring_mix["read_requests_per_batch"]
    fold_seconds_per_record = (scoring_mix["seconds_per_batch"] + fold_requests * DDB_ROUND_TRIP_SECONDS) / scoring_mix[
        "records"
    ]
    fold_invocation_seconds = fold_seconds_per_record * RECORDS_PER_FOLD_INVOCATION
    lines = {
        "api_gateway": requests * PRICES["apigw_rest_per_million_requests"] / 1e6,
        "lambda_ingest": requests * PRICES["lambda_per_million_requests"] / 1e6
        + requests * _billed_gb_seconds(ingest_seconds) * PRICES["lambda_per_gb_second"],
        "dynamodb_event_writes": 1e6 * event_wru * PRICES["dynamodb_per_million_wru"] / 1e6,
        "dynamodb_identity_reads": 1e6 * IDENTITY_KEYS_PER_EVENT * PRICES["dynamodb_per_million_rru"] / 1e6,
        "lambda_fold": (1e6 / RECORDS_PER_FOLD_INVOCATION)
        * (
            PRICES["lambda_per_million_requests"] / 1e6
            + _billed_gb_seconds(fold_invocation_seconds) * PRICES["lambda_per_gb_second"]
        ),
        "dynamodb_profile_writes": 1e6 / events_per_profile * profile_wru * PRICES["dynamodb_per_million_wru"] / 1e6,
        "dynamodb_profile_reads": 1e6 / events_per_profile * profile_rru * PRICES["dynamodb_per_million_rru"] / 1e6,
        "dynamodb_streams": 0.0,  # GetRecords by Lambda event-source mappings are not charged
    }
    lines["total"] = sum(lines.values())
    return lines


def run(ingest: dict[str, Any], scoring: dict[str, Any]) -> dict[str, Any]:
    profile_kb = scoring.get("profile_stored_bytes_median", scoring["profile_body_bytes_median"]) / 1024
    realistic, worst = scoring["mixes"][0], scoring["mixes"][-1]
    models = {}
    for label, per_request in (("1_event_per_request", 1), ("batches_of_20", 20)):
        for mix_label, mix in (("realistic", realistic), ("1_event_per_profile", worst)):
            models[f"{label}/{mix_label}"] = per_million_events(per_request, ingest, mix, profile_kb)
    events_per_10k = 10_000 * EVENTS_PER_PROFILE_MONTH
    emails = 10_000 * EMAILS_PER_PROFILE_MONTH * PRICES["ses_per_1000_emails"] / 1000
    ours_10k = {k: v["total"] * events_per_10k / 1e6 + emails for k, v in models.items()}
    endpoints = max(0, 10_000 - PRICES["pinpoint_free_targeted_endpoints"])
    pinpoint_10k = (
        events_per_10k * PRICES["pinpoint_per_million_events"] / 1e6
        + endpoints * PRICES["pinpoint_per_targeted_endpoint"]
        + emails
    )
    return {
        "prices_as_of": PRICES_AS_OF,
        "prices": PRICES,
        "assumptions": {
            "lambda_memory_mb": int(LAMBDA_GB * 1024),
            "dynamodb_round_trip_seconds": DDB_ROUND_TRIP_SECONDS,
            "records_per_fold_invocation": RECORDS_PER_FOLD_INVOCATION,
            "identity_keys_per_event": IDENTITY_KEYS_PER_EVENT,
            "events_per_profile_month": EVENTS_PER_PROFILE_MONTH,
            "emails_per_profile_month": EMAILS_PER_PROFILE_MONTH,
            "profile_item_kb": round(profile_kb, 1),
            "not_modelled": "profiles-stream consumers (segments, scenarios), delivery queue, CloudWatch Logs",
        },
        "per_million_events": models,
        "pinpoint_per_million_events": PRICES["pinpoint_per_million_events"],
        "per_10k_monthly_active_profiles": ours_10k,
        "pinpoint_per_10k_monthly_active_profiles": pinpoint_10k,
    }
