"""Write keys over their life (issue 13, item 6): rotate with a grace period, revoke, list; unknown keys from one
address are throttled and the unknown-key cache stays bounded."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.conftest import ADMIN_TOKEN, WRITE_KEY, Harness

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def clock() -> Any:
    from chalicelib import bootstrap
    from chalicelib.shared.clock import FakeClock, set_clock

    fake = FakeClock()
    set_clock(fake)
    bootstrap.reset()
    return fake


def _track(harness: Harness, write_key: str, ip: str = "198.51.100.7") -> int:
    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    body = json.dumps({"anonymousId": "k1", "event": "Product Viewed"})
    headers = {"Content-Type": "application/json", "Authorization": auth, "X-Forwarded-For": ip}
    return harness.client.http.post("/v1/track", body=body, headers=headers).status_code


def _post(harness: Harness, path: str, body: Any) -> Any:
    return harness.client.http.post(path, body=json.dumps(body), headers=ADMIN)


def test_a_rotated_key_works_for_its_grace_period_then_stops(harness: Harness, clock: Any) -> None:
    rotated = _post(harness, "/admin/sources/web/rotate", {"grace_hours": 2})
    assert rotated.status_code == 201, rotated.body
    new_key = harness.json(rotated)["write_key"]

    assert _track(harness, new_key) == 200
    assert _track(harness, WRITE_KEY) == 200  # still inside the grace period
    clock.advance(timedelta(hours=2, seconds=1))
    assert _track(harness, WRITE_KEY) == 401
    assert _track(harness, new_key) == 200
    listed = harness.json(harness.admin("/admin/sources"))["sources"]
    assert sorted(key["active"] for key in listed if key["source_id"] == "web") == [False, True]
    assert all(WRITE_KEY not in json.dumps(key) and new_key not in json.dumps(key) for key in listed)


def test_a_revoked_key_stops_at_once_and_the_others_keep_working(harness: Harness, clock: Any) -> None:
    new_key = harness.json(_post(harness, "/admin/sources/web/rotate", {"grace_hours": 24}))["write_key"]
    old = next(
        key
        for key in harness.json(harness.admin("/admin/sources"))["sources"]
        if key["source_id"] == "web" and key["expires_at"] is not None
    )

    revoked = _post(harness, f"/admin/sources/web/keys/{old['key_id']}/revoke", {})

    assert revoked.status_code == 200 and harness.json(revoked)["active"] is False
    assert _track(harness, WRITE_KEY) == 401
    assert _track(harness, new_key) == 200


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/admin/sources/nobody/rotate", {}, 404),
        ("/admin/sources/web/rotate", {"grace_hours": -1}, 400),
        ("/admin/sources/web/rotate", {"grace_hours": 24 * 365}, 400),
        ("/admin/sources/web/rotate", {"grace_hours": "soon"}, 400),
        ("/admin/sources/web/keys/nope/revoke", {}, 404),
    ],
)
def test_key_operations_on_what_does_not_exist_or_out_of_range(harness: Harness, path: str, body: Any, status: int):
    assert _post(harness, path, body).status_code == status


def test_an_unknown_key_2000_times_from_one_address_is_throttled_and_others_still_get_in(harness: Harness) -> None:
    statuses = [_track(harness, f"guess-{i}", ip="203.0.113.9") for i in range(2000)]

    assert set(statuses[:20]) == {401}
    assert set(statuses[20:]) == {429}
    assert _track(harness, WRITE_KEY, ip="198.51.100.20") == 200


def test_the_unknown_key_cache_is_bounded(harness: Harness) -> None:
    from chalicelib.bootstrap import get_source_registry
    from chalicelib.tracking.adapters.dynamodb_sources import MAX_CACHED_KEYS

    registry = get_source_registry()
    for i in range(MAX_CACHED_KEYS + 200):
        assert registry.by_write_key(f"never-issued-{i}") is None

    assert len(registry._by_hash) <= MAX_CACHED_KEYS


def test_a_sources_shop_links_are_stored_listed_and_survive_a_rotation(harness: Harness, clock: Any) -> None:
    # GIVEN a source created with where its mail links back to
    settings = {"shop_url": "https://shop.example/", "cart_url": "https://shop.example/cart"}
    created = _post(harness, "/admin/sources", {"source_id": "shop", "allowed_origins": [], "settings": settings})
    assert created.status_code == 201 and harness.json(created)["settings"] == settings
    # WHEN its key is rotated
    assert _post(harness, "/admin/sources/shop/rotate", {"grace_hours": 1}).status_code == 201
    # THEN every key record of it still names the shop
    listed = [s for s in harness.json(harness.admin("/admin/sources"))["sources"] if s["source_id"] == "shop"]
    assert len(listed) == 2 and all(s["settings"] == settings for s in listed)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"cart_url": "javascript:alert(1)"}, "settings.cart_url"),
        ({"shop_url": "shop.example"}, "settings.shop_url"),
        ({"shop_url": 5}, "settings.shop_url"),
    ],
)
def test_a_bad_shop_link_is_a_400_naming_it(harness: Harness, settings: Any, field: str) -> None:
    response = _post(harness, "/admin/sources", {"source_id": "shop", "settings": settings})
    assert response.status_code == 400 and harness.json(response)["field"] == field
