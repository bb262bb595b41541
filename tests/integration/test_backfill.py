"""Segment backfill on moto through the SQS handler: a segment added to the config is evaluated over every existing
profile, with exact sizes and members, progress on the admin API, and journeys only where a scenario asks for them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.scenario_support import (
    World,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

AUTH = {"Authorization": "Bearer test-admin-token", "Content-Type": "application/json"}
BIG = {"name": "big_spenders", "rule": {"field": "computed.revenue", "op": "gte", "value": 100}}


def order(world: World, user: str, n: int, revenue: float) -> None:
    world.send(
        "/v1/track",
        {"userId": user, "event": "Order Completed", "properties": {"order_id": f"{user}-{n}", "revenue": revenue}},
    )


def journeys(segment: str) -> list[Any]:
    from chalicelib.scenarios.loader import parse_scenario

    def scenario(scenario_id: str, **trigger: Any) -> Any:
        return parse_scenario(
            {
                "id": scenario_id,
                "name": scenario_id,
                "when": {"type": "segment_entered", "segment": segment, **trigger},
                "steps": [{"type": "wait", "id": "later", "duration": "3d"}],
            }
        )

    return [scenario("new_big_spenders"), scenario("all_big_spenders", include_existing=True)]


@pytest.fixture
def segment_added(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    """Customers exist; then `big_spenders` is added to segments.json, with a scenario for new entries only and one
    that includes existing members."""
    from chalicelib import bootstrap
    from chalicelib.profiles import config as profile_config

    for user, revenues in {"u-low": [20.0], "u-mid": [60.0, 50.0], "u-high": [150.0], "u-top": [80.0, 90.0]}.items():
        world.customer(user)
        for n, revenue in enumerate(revenues):
            order(world, user, n, revenue)
    world.send("/v1/track", {"anonymousId": "visitor-1", "event": "Product Viewed"})
    world.drain()
    for name in ("scoring.json", "lifecycle.json", "segments.json"):
        shutil.copy(profile_config.CONFIG_DIR / name, tmp_path / name)
    data = json.loads((tmp_path / "segments.json").read_text())
    data["segments"].append(BIG)
    (tmp_path / "segments.json").write_text(json.dumps(data))
    monkeypatch.setattr(profile_config, "CONFIG_DIR", tmp_path)
    profile_config.clear_config_cache()
    monkeypatch.setattr(bootstrap, "get_scenarios", lambda: journeys("big_spenders"))
    for factory in (
        bootstrap.get_segment_definitions,
        bootstrap.get_fold_service,
        bootstrap.get_backfill_service,
        bootstrap.get_scenario_service,
    ):
        factory.cache_clear()
    yield world
    profile_config.clear_config_cache()


def journeys_of(world: World, profile_id: str) -> set[str]:
    return {r["scenario_id"] for r in world.runs(profile_id)} & {"new_big_spenders", "all_big_spenders"}


def admin_json(world: World, path: str) -> Any:
    response = world.h.admin(path)
    assert response.status_code == 200, response.body
    return world.h.json(response)


def start(world: World, segment: str, body: Any = None) -> Any:
    raw = json.dumps(body) if body is not None else ""
    return world.h.client.http.post(f"/admin/segments/{segment}/backfill", body=raw, headers=AUTH)


def test_a_segment_added_to_the_config_gets_its_existing_members_exactly(segment_added: World) -> None:
    world = segment_added
    # GIVEN the new segment is empty: nobody has changed since it was added
    sizes = {s["id"]: s["size"] for s in admin_json(world, "/admin/segments")["items"]}
    assert sizes["big_spenders"] == 0
    # WHEN an operator starts its backfill and the queue is worked off
    response = start(world, "big_spenders", {"reason": "segment created"})
    assert response.status_code == 202, response.body
    job_id = world.h.json(response)["job_id"]
    world.drain()
    # THEN the members and the exact size are those the rule selects among existing profiles
    expected = {user_profile_id(u) for u in ("u-mid", "u-high", "u-top")}
    listed = admin_json(world, "/admin/segments/big_spenders/members?limit=100")
    assert {m["profile_id"] for m in listed["items"]} == expected and listed["size"] == 3
    # AND the job reports every scan segment done and every profile evaluated once
    job = admin_json(world, f"/admin/backfills/{job_id}")
    assert job["status"] == "finished" and job["finished_at"] is not None
    assert job["scan_segments"]["done"] == job["scan_segments"]["total"] == 16
    assert job["profiles_evaluated"] == 5 and job["profiles_written"] == 3 and job["reason"] == "segment created"
    assert [j["job_id"] for j in admin_json(world, "/admin/backfills")["items"]] == [job_id]
    # AND only the scenario that includes existing members started journeys for them
    for profile_id in expected:
        assert journeys_of(world, profile_id) == {"all_big_spenders"}
    # WHEN a second backfill of the same segment runs (nothing left to change)
    again = world.h.json(start(world, "big_spenders"))["job_id"]
    world.drain()
    job = admin_json(world, f"/admin/backfills/{again}")
    assert (job["status"], job["profiles_evaluated"], job["profiles_written"]) == ("finished", 5, 0)
    assert admin_json(world, "/admin/segments/big_spenders/members")["size"] == 3
    # AND a person who enters by buying starts both journeys, as any live entry does
    order(world, "u-low", 1, 500.0)
    world.drain()
    low = user_profile_id("u-low")
    assert journeys_of(world, low) == {"new_big_spenders", "all_big_spenders"}
    assert admin_json(world, "/admin/segments/big_spenders/members")["size"] == 4


def test_a_redelivered_backfill_message_counts_nothing_twice(segment_added: World) -> None:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import get_settings

    world = segment_added
    job_id = world.h.json(start(world, "big_spenders"))["job_id"]
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().backfill_queue)["QueueUrl"]
    # GIVEN every first step is on the queue twice (SQS delivers at least once)
    received = []
    while page := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages"):
        received += page
    for message in received:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    bodies = [m["Body"] for m in received]
    assert len(set(bodies)) == 16
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    world.drain()
    job = admin_json(world, f"/admin/backfills/{job_id}")
    assert (job["status"], job["profiles_evaluated"], job["profiles_written"]) == ("finished", 5, 3)
    assert admin_json(world, "/admin/segments/big_spenders/members")["size"] == 3


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/admin/segments/ghosts/backfill", {}, 404, "not_found"),
        ("/admin/segments/big_spenders/backfill", [], 400, "invalid_json"),
        ("/admin/segments/big_spenders/backfill", {"reason": 7}, 400, "invalid_parameter"),
    ],
)
def test_bad_backfill_requests_are_client_errors(
    segment_added: World, path: str, body: Any, status: int, error: str
) -> None:
    response = segment_added.h.client.http.post(path, body=json.dumps(body), headers=AUTH)
    assert response.status_code == status and segment_added.h.json(response)["error"] == error


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/admin/backfills/bf-20260302T100000Z-abcdef", 404),
        ("/admin/backfills/not-a-job", 404),
        ("/admin/backfills?limit=0", 400),
        ("/admin/backfills?limit=x", 400),
    ],
)
def test_unknown_jobs_and_bad_limits_are_client_errors(world: World, path: str, status: int) -> None:
    assert world.h.admin(path).status_code == status


def test_backfill_routes_need_the_admin_token(world: World) -> None:
    assert world.h.client.http.get("/admin/backfills").status_code == 401
    assert world.h.client.http.post("/admin/segments/vip/backfill", body="{}").status_code == 401
