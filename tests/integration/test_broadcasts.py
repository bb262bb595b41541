"""Broadcasts through the admin API on moto: drafts, validation, scheduling, pause / resume / cancel, uploaded lists,
and results from the scenario report counters."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.scenario_support import (
    World,
    world_fixture,  # noqa: F401 - registers `world`
)

# START is 01:00 UTC = 10:00 in Tokyo (the default zone): outside quiet hours.
DRAFT = {
    "name": "Spring sale",
    "audience": {"segment": "cart_abandoners"},
    "channel": "email",
    "template": "dormant_we_miss_you",
}


def _api(world: World, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    raw = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    response = getattr(world.h.client.http, method.lower())(path, headers=headers, body=raw)
    return response.status_code, json.loads(response.body) if response.body else None


def _people(world: World, n: int, prefix: str = "bc") -> list[str]:
    users = [f"{prefix}-{i}" for i in range(n)]
    for user in users:
        world.customer(user, email_address=f"{user}@example.com")
        world.add_to_cart(user)
    world.drain()
    return users


def _mail(world: World) -> Counter[str]:
    return Counter(to for m in world.outbox() for to in set(m["to"]) if "We miss you" in m["subject"])


def _launch(world: World) -> None:
    world.advance(minutes=1)
    world.drain()  # the minute schedule launches, the audience queue fans out, delivery sends


def test_a_segment_broadcast_is_sent_once_to_each_member_and_reports_results(world: World) -> None:
    # GIVEN three members of the segment and a draft broadcast to it
    users = _people(world, 3)
    status, created = _api(world, "POST", "/admin/broadcasts", DRAFT)
    assert status == 201, created
    assert created["status"] == "draft"
    broadcast_id = created["id"]

    # WHEN it is scheduled now and the minute schedule runs (twice: a repeated run launches nothing twice)
    status, scheduled = _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/schedule", {"at": "now"})
    assert status == 200 and scheduled["status"] == "scheduled", scheduled
    _launch(world)
    _launch(world)

    # THEN each member got one mail, and the broadcast shows sent with its results
    assert _mail(world) == Counter({f"{u}@example.com": 1 for u in users})
    status, document = _api(world, "GET", f"/admin/broadcasts/{broadcast_id}")
    assert status == 200
    assert document["status"] == "sent"
    assert document["progress"] == {"targeted": 3, "started": 3, "skipped_unknown": 0}
    [total] = document["results"]["totals"]
    assert total["counters"]["sent"] == 3
    assert document["summary"]["sent"] == 3 and document["summary"]["skipped"] == {}
    # and editing a broadcast that was sent is refused
    assert _api(world, "PUT", f"/admin/broadcasts/{broadcast_id}", DRAFT)[0] == 409
    assert broadcast_id in [b["id"] for b in _api(world, "GET", "/admin/broadcasts")[1]["broadcasts"]]


def test_results_count_the_members_a_guard_skipped_by_reason(world: World) -> None:
    # GIVEN two subscribed members and one who never opted in to email, all in the segment
    users = _people(world, 2)
    world.customer("bc-nocon", email_address="bc-nocon@example.com", subscribe=False)
    world.add_to_cart("bc-nocon")
    world.drain()
    broadcast_id = _api(world, "POST", "/admin/broadcasts", DRAFT)[1]["id"]
    _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/schedule", {"at": "now"})
    _launch(world)
    _launch(world)  # a repeated minute run counts nothing twice

    # THEN the subscribed got their mail and the results say why the third did not
    assert _mail(world) == Counter({f"{u}@example.com": 1 for u in users})
    document = _api(world, "GET", f"/admin/broadcasts/{broadcast_id}")[1]
    assert document["summary"]["sent"] == 2
    assert document["summary"]["skipped"] == {"no_consent": 1}
    [row] = [r for r in document["results"]["rows"] if r["step"] == "send"]
    assert row["skipped"] == {"no_consent": 1}


def test_a_test_send_goes_only_to_the_given_addresses_marked_and_counted_nowhere(world: World) -> None:
    # GIVEN a draft A/B broadcast with two variants, and its members
    users = _people(world, 2)
    variants = [
        {"id": "a", "template": "dormant_we_miss_you", "weight": 1},
        {"id": "b", "template": "dormant_incentive", "weight": 1},
    ]
    draft = {**DRAFT, "template": None, "variants": variants}
    draft.pop("template")
    status, created = _api(world, "POST", "/admin/broadcasts", draft)
    assert status == 201, created
    broadcast_id = created["id"]

    # WHEN the marketer sends a test of it to two colleagues, rendered for a real member
    from tests.integration.scenario_support import user_profile_id

    body = {"to": ["lead@shop.example", "Copy@Shop.Example"], "profile_id": user_profile_id(users[0])}
    status, answer = _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/test", body)

    # THEN each variant went to each colleague, marked as a test, and to nobody else
    assert status == 200, answer
    assert sorted((s["to"], s["template"]) for s in answer["sent"]) == [
        ("copy@shop.example", "dormant_incentive"),
        ("copy@shop.example", "dormant_we_miss_you"),
        ("lead@shop.example", "dormant_incentive"),
        ("lead@shop.example", "dormant_we_miss_you"),
    ]
    mails = world.outbox()
    assert {to for m in mails for to in m["to"]} == {"lead@shop.example", "copy@shop.example"}
    assert all(m["subject"].startswith("[TEST] ") for m in mails)
    # AND it is counted nowhere: the broadcast is still a draft with no results, no member has a message record
    document = _api(world, "GET", f"/admin/broadcasts/{broadcast_id}")[1]
    assert document["status"] == "draft" and document["summary"]["sent"] == 0 and document["results"] is None
    assert world.h.json(world.h.admin(f"/admin/profiles/{user_profile_id(users[0])}/messages"))["messages"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": []}, "to"),
        ({"to": ["ok@shop.example", "two@a.example, three@b.example"]}, "to[1]"),
        ({"to": ["evil@example.com\r\nBcc: x@y.example"]}, "to[0]"),
        ({"to": [f"p{i}@shop.example" for i in range(11)]}, "to"),
        ({"to": ["ok@shop.example"], "profile_id": "p_nobody"}, "profile_id"),
    ],
)
def test_a_bad_test_send_is_refused_naming_the_field_and_sends_nothing(world: World, body: Any, field: str) -> None:
    broadcast_id = _api(world, "POST", "/admin/broadcasts", DRAFT)[1]["id"]
    status, answer = _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/test", body)
    assert status in (400, 404) and answer["field"] == field, answer
    assert world.outbox() == []


def test_a_broadcast_with_send_time_optimisation_waits_for_each_persons_hour_then_sends_once(world: World) -> None:
    # GIVEN members with no engagement history and a broadcast that optimises send time (fallback 19:00 local)
    users = _people(world, 2)
    body = {**DRAFT, "send_time": {"within": "24h", "fallback_hour": 19, "min_events": 3, "control_share": 0}}
    broadcast_id = _api(world, "POST", "/admin/broadcasts", body)[1]["id"]
    _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/schedule", {"at": "now"})
    # WHEN it launches at 10:00 in Tokyo: nothing goes yet
    _launch(world)
    assert _mail(world) == Counter()
    # THEN at 19:00 Tokyo (10:00 UTC) each member gets it once
    world.advance(hours=9)
    world.drain()
    world.advance(minutes=2)
    world.drain()
    assert _mail(world) == Counter({f"{u}@example.com": 1 for u in users})


def test_a_paused_broadcast_sends_nothing_until_resumed_and_a_cancelled_one_never_sends(world: World) -> None:
    users = _people(world, 2)
    paused = _api(world, "POST", "/admin/broadcasts", DRAFT)[1]["id"]
    cancelled = _api(world, "POST", "/admin/broadcasts", {**DRAFT, "template": "dormant_we_miss_you"})[1]["id"]
    for broadcast_id in (paused, cancelled):
        assert _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/schedule", {"at": "now"})[0] == 200
    assert _api(world, "POST", f"/admin/broadcasts/{paused}/pause")[1]["status"] == "paused"
    assert _api(world, "POST", f"/admin/broadcasts/{cancelled}/cancel")[1]["status"] == "cancelled"

    _launch(world)
    assert _mail(world) == Counter()

    assert _api(world, "POST", f"/admin/broadcasts/{paused}/resume")[1]["status"] == "scheduled"
    _launch(world)
    assert _mail(world) == Counter({f"{u}@example.com": 1 for u in users})  # the paused one only, once each
    assert _api(world, "POST", f"/admin/broadcasts/{cancelled}/resume")[0] == 409


def test_pausing_while_sending_parks_the_fan_out_and_resume_delivers_it(world: World) -> None:
    # GIVEN a broadcast whose fan-out has queued its steps, paused before delivery runs them
    from chalicelib.bootstrap import get_broadcast_service

    users = _people(world, 2)
    broadcast_id = _api(world, "POST", "/admin/broadcasts", DRAFT)[1]["id"]
    _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/schedule", {"at": "now"})
    world.advance(minutes=1)
    get_broadcast_service().launch_due()
    assert _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/pause")[1]["status"] == "paused"

    # WHEN the queues drain while paused
    world.drain()
    assert _mail(world) == Counter()

    # THEN after resume the parked page goes back on the queue and each member gets one mail
    assert _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/resume")[1]["status"] == "sending"
    world.advance(minutes=11)
    world.drain()
    assert _mail(world) == Counter({f"{u}@example.com": 1 for u in users})


def test_an_uploaded_list_skips_and_counts_unknown_rows_and_never_mails_the_unsubscribed(world: World) -> None:
    _people(world, 1, prefix="known")
    world.customer("optout", email_address="optout@example.com", subscribe=False)
    world.drain()
    audience = {"list": ["known-0@example.com", "nobody@example.com", "optout@example.com", "ghost-user"]}
    broadcast_id = _api(world, "POST", "/admin/broadcasts", {**DRAFT, "audience": audience})[1]["id"]
    _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/schedule", {"at": "now"})
    _launch(world)

    assert _mail(world) == Counter({"known-0@example.com": 1})
    document = _api(world, "GET", f"/admin/broadcasts/{broadcast_id}")[1]
    assert document["progress"] == {"targeted": 4, "started": 2, "skipped_unknown": 2}
    assert document["status"] == "sent"


def test_an_inline_rule_audience_is_backfilled_over_existing_profiles_then_sent_once_and_retired(
    world: World,
) -> None:
    # GIVEN two gold and one silver customer, all folded before the broadcast exists
    for user, plan in (("bc-g1", "gold"), ("bc-g2", "gold"), ("bc-s1", "silver")):
        world.customer(user, email_address=f"{user}@example.com", traits={"plan": plan})
    world.drain()
    rule = {"field": "traits.plan", "op": "eq", "value": "gold"}
    status, created = _api(world, "POST", "/admin/broadcasts", {**DRAFT, "audience": {"rule": rule}})
    assert status == 201, created
    broadcast_id = created["id"]
    # WHEN it is scheduled: the rule becomes a hidden segment whose backfill runs before the launch
    assert _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/schedule", {"at": "now"})[0] == 200
    _launch(world)
    _launch(world)
    # THEN exactly the gold customers got it, once
    assert _mail(world) == Counter({"bc-g1@example.com": 1, "bc-g2@example.com": 1})
    document = _api(world, "GET", f"/admin/broadcasts/{broadcast_id}")[1]
    assert document["status"] == "sent" and document["progress"]["targeted"] == 2
    # AND the hidden segment is disabled once walked: later folds no longer evaluate it
    status, segment = _api(world, "GET", f"/admin/definitions/segment/bc-{broadcast_id}")
    assert status == 200 and segment["enabled"] is False


def test_an_audience_that_resolves_to_nobody_ends_empty(world: World) -> None:
    world.drain()  # the pump's first round only arms its schedules
    broadcast_id = _api(world, "POST", "/admin/broadcasts", {**DRAFT, "audience": {"list": ["nobody@example.com"]}})[1][
        "id"
    ]
    _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/schedule", {"at": "now"})
    _launch(world)
    assert _api(world, "GET", f"/admin/broadcasts/{broadcast_id}")[1]["status"] == "empty"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"audience": {"segment": "nope"}}, "audience.segment"),
        ({"template": "nope"}, "template"),
        ({"holdout_share": 1.5}, "holdout_share"),
        ({"channel": "fax"}, "channel"),
        ({"audience": {"rule": {"field": "stage", "op": "is_about", "value": "loyal"}}}, "audience.rule.op"),
        ({"template": None, "variants": [{"id": "a", "template": "nope"}]}, "variants[0].template"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(world: World, change: dict[str, Any], field: str) -> None:
    status, body = _api(world, "POST", "/admin/broadcasts", {**DRAFT, **change})
    assert status == 400, body
    assert body["success"] is False and body["field"] == field


def test_scheduling_in_the_past_or_unknown_broadcasts_are_refused(world: World) -> None:
    broadcast_id = _api(world, "POST", "/admin/broadcasts", DRAFT)[1]["id"]
    status, body = _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/schedule", {"at": "2020-01-01T00:00:00Z"})
    assert (status, body["field"]) == (400, "at")
    assert _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/schedule", {"at": "soon"})[0] == 400
    assert _api(world, "GET", "/admin/broadcasts/nope")[0] == 404
    assert _api(world, "POST", "/admin/broadcasts", "{not json")[0] == 400


def test_an_ab_broadcast_tests_on_a_share_then_sends_the_winner_to_the_rest(world: World) -> None:
    # GIVEN ten members and an A/B broadcast: 40 % get a or b, the rest the winner by clicks an hour later
    from chalicelib.scenarios.assignment import bucket
    from chalicelib.tracking.identity import profile_id_for

    users = _people(world, 10, prefix="ab")
    body = {
        **DRAFT,
        "template": None,
        "variants": [{"id": "a", "template": "dormant_we_miss_you"}, {"id": "b", "template": "welcome"}],
        "ab": {"test_share": 0.4, "decide_after": "1h", "metric": "clicks"},
    }
    broadcast_id = _api(world, "POST", "/admin/broadcasts", {k: v for k, v in body.items() if v is not None})[1]["id"]
    in_test = {u for u in users if bucket(f"bc-{broadcast_id}", profile_id_for("user", u), "ab-test") < 0.4}

    def ours() -> list[dict[str, Any]]:  # the packaged cart reminder also mails these shoppers an hour later
        return [m for m in world.outbox() if m["subject"] in ("We miss you, Hana", "Welcome, Hana!")]

    def mailed() -> Counter[str]:
        return Counter(to for m in ours() for to in set(m["to"]) if to.startswith("ab-"))

    # WHEN it is sent now
    _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/schedule", {"at": "now"})
    _launch(world)

    # THEN only the test share got a variant, and the broadcast waits for its decision
    assert set(mailed()) == {f"{u}@example.com" for u in in_test}
    document = _api(world, "GET", f"/admin/broadcasts/{broadcast_id}")[1]
    assert document["status"] == "sending" and document["ab"]["winner"] is None

    # WHEN the decision time passes (no clicks: no significant winner, so the best observed, ties to the first)
    world.advance(hours=1)
    world.drain()

    # THEN everyone else got the winner, nobody got two mails, and the broadcast is sent
    assert mailed() == Counter({f"{u}@example.com": 1 for u in users})
    document = _api(world, "GET", f"/admin/broadcasts/{broadcast_id}")[1]
    assert document["ab"]["winner"] == "a" and document["ab"]["winner_reason"] == "best_observed"
    assert document["status"] == "sent" and document["progress"]["started"] == 10
    rest = [m for m in ours() if set(m["to"]) & {f"{u}@example.com" for u in set(users) - in_test}]
    assert {m["subject"] for m in rest} == {"We miss you, Hana"}


def test_a_local_time_broadcast_reaches_each_recipient_at_that_hour_in_their_own_zone(world: World) -> None:
    # GIVEN a member in Tokyo and one in New York
    for user, zone in (("tokyo", "Asia/Tokyo"), ("newyork", "America/New_York")):
        world.customer(user, email_address=f"{user}@example.com", timezone=zone)
        world.add_to_cart(user)
    world.drain()
    broadcast_id = _api(world, "POST", "/admin/broadcasts", DRAFT)[1]["id"]

    # WHEN it is scheduled for 10:00 local on 2026-03-03 (a local time in the past everywhere is refused)
    late = {"local_time": "10:00", "date": "2026-03-01"}
    assert _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/schedule", late)[1]["field"] == "date"
    when = {"local_time": "10:00", "date": "2026-03-03"}
    scheduled = _api(world, "POST", f"/admin/broadcasts/{broadcast_id}/schedule", when)[1]
    assert scheduled["at"] == "2026-03-02T20:00:00.000Z"  # 10:00 where the day starts first (UTC+14)

    # THEN Tokyo gets it at 01:00 UTC and New York at 15:00 UTC, not before
    world.advance(hours=19, minutes=1)  # 20:01 UTC: launched, nobody due yet
    world.drain()
    assert _mail(world) == Counter()
    world.advance(hours=5)  # 01:01 UTC on the 3rd = 10:01 in Tokyo
    world.drain()
    assert _mail(world) == Counter({"tokyo@example.com": 1})
    world.advance(hours=14)  # 15:01 UTC = 10:01 in New York
    world.drain()
    assert _mail(world) == Counter({"tokyo@example.com": 1, "newyork@example.com": 1})
