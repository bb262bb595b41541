"""One bad event never blocks a person, and failed events are re-driven after a fix (issue 13, item 5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.conftest import ADMIN_TOKEN, Harness

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


def _viewed(product_id: str, message_id: str) -> dict[str, Any]:
    return {
        "type": "track",
        "anonymousId": "iso-1",
        "event": "Product Viewed",
        "messageId": message_id,
        "properties": {"product_id": product_id},
    }


def _profile(harness: Harness) -> dict[str, Any]:
    return harness.json(harness.admin("/admin/profiles?anonymous_id=iso-1"))["profile"]


def _replay(harness: Harness, **body: Any) -> dict[str, Any]:
    body.setdefault("day", datetime.now(UTC).strftime("%Y-%m-%d"))
    response = harness.client.http.post("/admin/failed-events/replay", body=json.dumps(body), headers=ADMIN)
    assert response.status_code == 200, response.body
    return harness.json(response)


@pytest.fixture
def broken_fold(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fold bug that only one event triggers (product `boom`); `fix()` takes it away."""
    from chalicelib.profiles import fold

    original = fold._TRACK_HANDLERS["Product Viewed"]

    def buggy(folder: Any, event: Any, ts: float, key: str) -> None:
        if event.properties.get("product_id") == "boom":
            raise ArithmeticError("a bug this event alone triggers")
        original(folder, event, ts, key)

    monkeypatch.setitem(fold._TRACK_HANDLERS, "Product Viewed", buggy)
    return lambda: monkeypatch.setitem(fold._TRACK_HANDLERS, "Product Viewed", original)


def test_an_event_the_fold_cannot_fold_is_parked_alone_and_replayed_once_fixed(harness: Harness, broken_fold) -> None:
    # GIVEN a person's batch with one event the fold cannot handle
    batch = [_viewed("p-before", "m1"), _viewed("boom", "m2"), _viewed("p-after", "m3")]
    assert harness.post("/v1/batch", {"batch": batch}).status_code == 200
    harness.pump.drain()
    # THEN the person's other events are folded and only that one is parked, with its reason
    viewed = {v["product_id"] for v in _profile(harness)["computed"]["viewed_products"]}
    assert viewed == {"p-before", "p-after"}
    [parked] = [r for r in harness.failed_events() if r["reason"]["error"] == "fold_failed"]
    assert "ArithmeticError" in parked["reason"]["message"] and '"boom"' in parked["raw"]

    # WHEN the bug is fixed and the day's fold failures are replayed, twice
    broken_fold()
    first = _replay(harness, reason="fold_failed")
    harness.pump.drain()
    second = _replay(harness, reason="fold_failed")
    harness.pump.drain()

    # THEN the event is folded once
    assert first["refolded"] == 1 and second["refolded"] == 1
    products = {v["product_id"]: v.get("views", 1) for v in _profile(harness)["computed"]["viewed_products"]}
    assert products == {"p-before": 1, "boom": 1, "p-after": 1}


def test_messages_refused_at_ingest_are_ingested_once_when_replayed_after_a_fix(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.tracking import validation

    monkeypatch.setattr(validation, "MAX_MESSAGE_BYTES", 10)  # a limit set too low by mistake
    refused = harness.post("/v1/track", {"anonymousId": "iso-1", "event": "Signed Up"})
    assert refused.status_code == 400
    monkeypatch.setattr(validation, "MAX_MESSAGE_BYTES", 32 * 1024)  # the fix

    first = _replay(harness, reason="payload_too_large")
    second = _replay(harness, reason="payload_too_large")
    harness.pump.drain()

    # the same derived messageId: stored by the first replay only (a re-sent key is never written again)
    assert first["reingested"] == 1 and second["reingested"] == 0
    assert harness.scan_count("EventsTable") == 1
    assert _profile(harness)["computed"]["event_counts"] == {"Signed Up": 1}


def test_outside_data_of_the_wrong_type_does_not_stop_the_fold(harness: Harness) -> None:
    batch = [
        {"type": "identify", "anonymousId": "iso-1", "context": {"traits": "s"}, "messageId": "w1"},
        {**_viewed("p-ok", "w2"), "properties": {"product_id": "p-ok", "quantity": 1e308, "price": "abc"}},
    ]

    assert harness.post("/v1/batch", {"batch": batch}).status_code == 200
    harness.pump.drain()

    assert [v["product_id"] for v in _profile(harness)["computed"]["viewed_products"]] == ["p-ok"]
    assert not [r for r in harness.failed_events() if r["reason"]["error"] == "fold_failed"]


@pytest.mark.parametrize("body", [{}, {"day": "2026-13-01"}, {"day": "2026-12-01", "reason": 5}])
def test_replay_parameters_are_checked(harness: Harness, body: dict[str, Any]) -> None:
    response = harness.client.http.post("/admin/failed-events/replay", body=json.dumps(body), headers=ADMIN)
    assert response.status_code == 400
