"""Tracked events end to end: computed traits, scores and grade in the admin view; the shipped segments; bad config."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Harness


def send(h: Harness, path: str, body: dict[str, Any]) -> None:
    response = h.post(path, body)
    assert response.status_code == 200, response.body


def view(h: Harness, user: str) -> dict[str, Any]:
    response = h.admin(f"/admin/profiles?user_id={user}")
    assert response.status_code == 200, response.body
    return h.json(response)


def product(pid: str, price: float, category: str = "shoes") -> dict[str, Any]:
    return {"product_id": pid, "name": pid.title(), "price": price, "quantity": 1, "category": category}


def test_tracked_events_build_computed_traits_scores_and_a_grade(harness: Harness) -> None:
    # GIVEN a lead who signs up, browses, adds to the cart and buys
    send(harness, "/v1/identify", {"userId": "lead-1", "traits": {"email": "lead@example.com", "title": "Founder"}})
    for n in range(3):
        send(harness, "/v1/page", {"userId": "lead-1", "name": f"Catalog {n}"})
    send(harness, "/v1/track", {"userId": "lead-1", "event": "Product Viewed", "properties": product("boot", 120)})
    send(harness, "/v1/track", {"userId": "lead-1", "event": "Product Added", "properties": product("boot", 120)})
    send(
        harness,
        "/v1/track",
        {
            "userId": "lead-1",
            "event": "Order Completed",
            "properties": {"order_id": "o-1", "revenue": 120, "products": [product("boot", 120)]},
        },
    )
    harness.pump.drain()
    # THEN the admin view shows computed traits, stage, scores and a grade computed at read time
    body = view(harness, "lead-1")
    computed, summary = body["profile"]["computed"], body["summary"]
    assert computed["page_views"] == 3 and computed["orders"] == 1 and computed["revenue"] == 120
    assert computed["top_categories"] == ["shoes"] and computed["cart_quantity"] == 0
    assert summary["stage"] == "new" and summary["needs_group"] == "shoes"
    scores = summary["scores"]
    # points: 3 pages + view 2 + add 5 + order 20 = 30, barely decayed; fit: email 10 + founder title 15 = 25
    assert scores["fit"] == 25 and 29 < scores["engagement"] <= 30
    assert scores["grade"] == "A2" and scores["total"] == pytest.approx(scores["fit"] + scores["engagement"])
    assert body["profile"]["scores"]["grade"] == "A2"


def test_the_three_shipped_segments_can_be_entered_with_realistic_events(harness: Harness) -> None:
    now = datetime.now(UTC)
    # GIVEN a woman from San Diego who identifies herself
    send(
        harness,
        "/v1/identify",
        {"userId": "maria", "traits": {"gender": "Female", "address": {"city": "San Diego", "state": "California"}}},
    )
    # AND a shopper who leaves a jacket in the cart
    send(harness, "/v1/track", {"userId": "cart", "event": "Product Added", "properties": product("jacket", 89)})
    # AND a long-standing customer who has spent over 1,000 (first order two months ago)
    for n, days_ago in enumerate((60, 30, 2)):
        send(
            harness,
            "/v1/track",
            {
                "userId": "vip",
                "event": "Order Completed",
                "timestamp": (now - timedelta(days=days_ago)).isoformat(),
                "properties": {"order_id": f"vip-{n}", "revenue": 400, "products": [product(f"bag-{n}", 400)]},
            },
        )
    harness.pump.drain()
    # THEN each is in their segment, with a membership item to show for it
    assert view(harness, "maria")["profile"]["segments"] == ["women_southern_california"]
    assert view(harness, "cart")["profile"]["segments"] == ["cart_abandoners"]
    vip = view(harness, "vip")["profile"]
    assert vip["stage"] == "loyal" and vip["segments"] == ["loyal_top_of_group"]
    sizes = {s["id"]: s["size"] for s in harness.json(harness.admin("/admin/segments"))["items"]}
    assert sizes == {"women_southern_california": 1, "cart_abandoners": 1, "loyal_top_of_group": 1}


@pytest.fixture
def broken_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    from chalicelib.profiles import config as profile_config

    for name in ("scoring.json", "lifecycle.json", "segments.json"):
        shutil.copy(profile_config.CONFIG_DIR / name, tmp_path / name)
    data = json.loads((tmp_path / "segments.json").read_text())
    data["segments"][1]["rule"]["all"][0]["op"] = "greater"
    (tmp_path / "segments.json").write_text(json.dumps(data))
    monkeypatch.setattr(profile_config, "CONFIG_DIR", tmp_path)
    profile_config.clear_config_cache()
    yield tmp_path
    profile_config.clear_config_cache()


def test_a_broken_config_fails_the_fold_loudly_instead_of_parking_events(harness: Harness, broken_config: Path) -> None:
    from chalicelib.profiles.config import ConfigError, validate_all

    # GIVEN a typo in segments.json, which validation names by file and field
    problems = validate_all(broken_config)
    assert any("segments.json: segments[1].rule.all[0].op" in p for p in problems)
    send(harness, "/v1/track", {"anonymousId": "x", "event": "Product Viewed"})
    # WHEN the events stream is delivered
    harness.pump.drain()
    # THEN the handler raised ConfigError (Lambda retries the batch and alarms) and no event was parked as poison
    assert any(isinstance(e, ConfigError) for e in harness.pump.errors)
    assert harness.failed_events() == []
    assert harness.admin("/admin/segments").status_code == 503
