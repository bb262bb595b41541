"""The daily series' arithmetic: which records of a batch count, on which day, and the per-day rates."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from chalicelib.engagement.daily import COMPLAINT_LINE, batch_increments, checkpointed, days_between, series

DAY = "2026-03-02"


def rec(seq: int, kind: str = "track", name: str = "INSERT") -> dict[str, Any]:
    return {"eventName": name, "dynamodb": {"SequenceNumber": str(seq), "NewImage": {"type": {"S": kind}}}}


def test_a_batch_counts_inserts_by_type_with_a_total_under_its_first_and_last_sequence() -> None:
    batch = batch_increments([rec(10), rec(11, "identify"), rec(12), rec(13, name="MODIFY")], [], {}, DAY)
    assert batch.rows == {(DAY, "events"): {"track": 2, "identify": 1, "total": 3}}
    assert (batch.first_sequence, batch.last_sequence) == ("10", "13")


def test_only_the_prefix_before_the_first_retried_record_counts_lambda_redelivers_the_rest() -> None:
    records = [rec(10), rec(11), rec(12), rec(13)]
    assert [r["dynamodb"]["SequenceNumber"] for r in checkpointed(records, {"12", "13"})] == ["10", "11"]
    batch = batch_increments(records, {"12"}, {}, DAY)
    assert batch.rows[(DAY, "events")]["total"] == 2 and batch.last_sequence == "11"
    # the re-delivery starts at 12 and counts 12 and 13: each record counted exactly once over both deliveries
    again = batch_increments(records[2:], [], {}, DAY)
    assert again.rows[(DAY, "events")]["total"] == 2 and again.first_sequence == "12"


def test_a_longer_redelivery_counts_only_past_the_last_counted_sequence() -> None:
    records = [rec(10), rec(11), rec(12), rec(13)]
    rest = batch_increments(records, [], {}, DAY, after="11")
    assert rest.rows[(DAY, "events")]["total"] == 2 and rest.first_sequence == "12"
    assert batch_increments(records, [], {}, DAY, after="13").empty  # exactly the batch already counted


def test_newly_active_profiles_count_on_their_own_day_even_when_every_record_is_retried() -> None:
    batch = batch_increments([rec(10), rec(11)], {"10", "11"}, {DAY: 2, "2026-03-01": 1}, DAY)
    assert batch.rows == {(DAY, "active"): {"profiles": 2}, ("2026-03-01", "active"): {"profiles": 1}}
    assert batch.first_sequence == "10#active"  # a marker of its own: the re-delivery's prefix marker is "10"


def test_an_unknown_or_odd_type_is_counted_as_other() -> None:
    odd = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1", "NewImage": {"type": {"S": "x y"}}}}
    assert batch_increments([odd], [], {}, DAY).rows[(DAY, "events")] == {"other": 1, "total": 1}


def test_days_between_is_inclusive_and_empty_when_reversed() -> None:
    assert days_between(date(2026, 2, 27), date(2026, 3, 1)) == ["2026-02-27", "2026-02-28", "2026-03-01"]
    assert days_between(date(2026, 3, 2), date(2026, 3, 1)) == []


def test_series_rates_follow_ses_denominators_and_missing_days_are_zero() -> None:
    rows = {
        (DAY, "email"): {"sent": 1000, "delivered": 980, "bounced": 20, "complaints": 4},
        (DAY, "events"): {"track": 7, "page": 3, "total": 10},
        (DAY, "active"): {"profiles": 5},
    }
    answer = series(["2026-03-01", DAY], rows)
    empty, full = answer["days"]
    assert empty["events"] == 0 and empty["events_by_type"] == {"page": 0, "track": 0}
    assert empty["bounce_rate"] is None and empty["complaint_rate"] is None and empty["delivery_rate"] is None
    assert full["bounce_rate"] == pytest.approx(0.02)  # over sent
    assert full["complaint_rate"] == pytest.approx(4 / 980)  # over delivered
    assert full["complaint_rate"] > COMPLAINT_LINE
    assert full["delivery_rate"] == pytest.approx(0.98)
    assert (full["events"], full["active_profiles"], answer["event_types"]) == (10, 5, ["page", "track"])
