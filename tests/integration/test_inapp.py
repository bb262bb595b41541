"""In-app messages over HTTP on moto: definitions through the admin API, the public fetch (at most two DynamoDB reads),
views / clicks / dismissals back as tracked events through the streams, reports, and the scenario "email, then
in-app if not opened"."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.integration.conftest import ADMIN_TOKEN, ORIGIN, WRITE_KEY, Harness
from tests.integration.scenario_support import World, user_profile_id
from tests.integration.scenario_support import world_fixture as world_fixture  # noqa: F401 - registers `world`

ROOT = Path(__file__).resolve().parents[2]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
HUMAN_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4"


def fetch(h: Harness, query: str = "", origin: str | None = ORIGIN) -> Any:
    headers = {"Origin": origin} if origin else {}
    return h.client.http.get(f"/v1/in-app?writeKey={WRITE_KEY}{query}", headers=headers)


def shown(h: Harness, anon: str) -> list[str]:
    response = fetch(h, f"&anonymousId={anon}")
    assert response.status_code == 200, response.body
    return [m["id"] for m in json.loads(response.body)["messages"]]


def track(h: Harness, anon: str, event: str, **properties: Any) -> None:
    body = {"anonymousId": anon, "event": event, "properties": properties}
    assert h.post("/v1/track", body).status_code == 200


def inapp_state_items() -> list[dict[str, Any]]:
    """Test-only inspection of the StateTable's in-app items (the product itself never scans)."""
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    items = client("dynamodb").scan(TableName=table_name("StateTable"))["Items"]
    return [item for item in items if item["pk"]["S"].startswith("inapp#")]


def put_message(h: Harness, message_id: str, body: dict[str, Any]) -> Any:
    return h.client.http.put(f"/admin/definitions/in_app/{message_id}", body=json.dumps(body), headers=ADMIN)


def test_an_unknown_visitor_gets_no_messages_with_200(harness: Harness) -> None:
    for query in ("", "&anonymousId=never-seen", "&userId=nobody"):
        response = fetch(harness, query)
        assert response.status_code == 200, response.body
        assert json.loads(response.body) == {"visitor": {"known": False}, "messages": []}
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_bad_requests_are_named_4xx(harness: Harness) -> None:
    too_long = fetch(harness, "&anonymousId=" + "x" * 201)
    assert too_long.status_code == 400 and json.loads(too_long.body)["field"] == "anonymousId"
    no_key = harness.client.http.get("/v1/in-app?anonymousId=a", headers={"Origin": ORIGIN})
    assert no_key.status_code == 401
    assert fetch(harness, "&anonymousId=a", origin="https://evil.example").status_code == 403


def test_a_product_view_puts_the_banner_up_read_with_at_most_two_dynamodb_reads(
    harness: Harness, reads: list[str]
) -> None:
    # GIVEN a visitor who viewed a product (the packaged banner is triggered by `Product Viewed`)
    track(harness, "v1", "Product Viewed", product_id="tea-1")
    harness.pump.drain()
    assert inapp_state_items() == []  # the view's time is in the profile the fold wrote: no in-app state item
    shown(harness, "v1")  # warms the definitions cache (its revision read is per container, every 30 s)
    # WHEN the page fetches its messages
    reads.clear()
    response = fetch(harness, "&anonymousId=v1")
    # THEN the banner is there, and the fetch read the profile and the (absent) in-app state only
    body = json.loads(response.body)
    assert [m["id"] for m in body["messages"]] == ["free_shipping_banner"]
    assert body["messages"][0]["buttons"][1] == {"label": "No thanks", "action": "dismiss"}
    assert len(reads) <= 2, reads
    assert response.headers["Cache-Control"] == "private, no-store"


def test_views_cap_the_banner_dismissal_hides_it_and_the_report_counts_each_once(harness: Harness) -> None:
    track(harness, "v2", "Product Viewed", product_id="tea-1")
    harness.pump.drain()
    for n in range(3):  # the banner allows 3 impressions a day
        assert shown(harness, "v2") == ["free_shipping_banner"]
        message = {"anonymousId": "v2", "event": "In-App Message Viewed", "messageId": f"view-{n}"}
        message["properties"] = {"message_id": "free_shipping_banner"}
        assert harness.post("/v1/track", message).status_code == 200
        assert harness.post("/v1/track", message).status_code == 200  # a retried send is one event
        harness.pump.drain()
    assert shown(harness, "v2") == []
    track(harness, "v2", "In-App Message Clicked", message_id="free_shipping_banner")
    track(harness, "v2", "In-App Message Dismissed", message_id="free_shipping_banner")
    harness.pump.drain()
    report = harness.json(harness.admin("/admin/in-app/free_shipping_banner/report"))["report"]
    assert report["impressions"] == 3 and report["viewers"] == 1
    assert report["clicks"] == 1 and report["dismissals"] == 1 and report["click_rate"] == 1.0


def test_definitions_are_validated_versioned_listed_and_archived(harness: Harness) -> None:
    # GIVEN a bad definition THEN 400 naming the field
    bad = put_message(
        harness, "promo", {"kind": "banner", "title": "x", "buttons": [{"label": "a", "url": "javascript:x"}]}
    )
    assert bad.status_code == 400 and json.loads(bad.body)["field"] == "buttons[0].url"
    unknown = put_message(harness, "promo", {"kind": "banner", "title": "x", "segment": "no_such_segment"})
    assert unknown.status_code == 400 and json.loads(unknown.body)["field"] == "segment"
    # WHEN a good one (HTML in the title) targets everyone who viewed a product
    body = {
        "kind": "modal",
        "title": "<img src=x onerror=alert(1)>",
        "trigger": {"event": "Product Viewed"},
        "priority": 90,
    }
    created = put_message(harness, "promo", body)
    assert created.status_code == 201, created.body
    track(harness, "v3", "Product Viewed", product_id="tea-1")
    harness.pump.drain()
    # THEN it comes first, and its HTML is text: escaped in the raw JSON, the same string once parsed
    raw = fetch(harness, "&anonymousId=v3").body.decode()
    assert "<img" not in raw and "\\u003cimg" in raw
    messages = json.loads(raw)["messages"]
    assert [m["id"] for m in messages] == ["promo", "free_shipping_banner"]
    assert messages[0]["title"] == body["title"]
    listed = harness.json(harness.admin("/admin/in-app"))["messages"]
    assert {"promo", "free_shipping_banner", "welcome_unopened"} <= {m["id"] for m in listed}
    # WHEN it is archived THEN it stops showing
    archived = harness.client.http.post("/admin/in-app/promo/archive", body="{}", headers=ADMIN)
    assert archived.status_code == 200 and json.loads(archived.body)["enabled"] is False
    assert shown(harness, "v3") == ["free_shipping_banner"]


def test_the_in_app_renderer_is_served(harness: Harness) -> None:
    response = harness.client.http.get("/inapp.js")
    assert response.status_code == 200 and b"role" in response.body and b"innerHTML" not in response.body


# -- "email, then in-app if not opened" ------------------------------------------------------------------------------


def _email_then_in_app(world: World) -> None:
    """The example scenario stored through the admin API; the packaged welcome series switched off (same trigger)."""
    example = json.loads((ROOT / "docs" / "examples" / "welcome_in_app_fallback.json").read_text())
    example.pop("$schema")
    saved = world.h.client.http.put(
        "/admin/definitions/scenario/welcome_in_app_fallback", body=json.dumps(example), headers=ADMIN
    )
    assert saved.status_code == 201, saved.body
    off = world.h.client.http.post("/admin/definitions/scenario/welcome_series/disable", body="{}", headers=ADMIN)
    assert off.status_code == 200, off.body


def _sign_up(world: World, user: str) -> None:
    world.customer(user, email_address=f"{user}@example.com")
    world.send("/v1/track", {"userId": user, "event": "Signed Up", "properties": {"method": "form"}})
    world.drain()


def _in_app(world: World, user: str) -> list[dict[str, Any]]:
    response = world.h.client.http.get(f"/v1/in-app?writeKey={WRITE_KEY}&userId={user}", headers={"Origin": ORIGIN})
    assert response.status_code == 200, response.body
    return json.loads(response.body)["messages"]


def test_an_unopened_welcome_email_is_followed_by_the_in_app_welcome(world: World) -> None:
    _email_then_in_app(world)
    _sign_up(world, "quiet-1")
    [welcome] = world.outbox()
    assert "quiet-1@example.com" in welcome["to"]
    assert _in_app(world, "quiet-1") == []
    # WHEN two days pass without an open
    world.advance(days=2, minutes=1)
    world.drain()
    # THEN the welcome modal is up in the app and on the site
    assert [m["id"] for m in _in_app(world, "quiet-1")] == ["welcome_unopened"]
    # AND viewing and clicking it land on the scenario's report, on the in-app step
    for event in ("In-App Message Viewed", "In-App Message Clicked"):
        world.send("/v1/track", {"userId": "quiet-1", "event": event, "properties": {"message_id": "welcome_unopened"}})
    world.drain()
    rows = world.h.json(world.h.admin("/admin/reports/scenarios/welcome_in_app_fallback"))["rows"]
    [step] = [r for r in rows if r["step"] == "welcome_in_app"]
    assert step["channel"] == "in_app"
    assert step["counters"]["sent"] == 1 and step["counters"]["human_opens"] == 1 and step["counters"]["clicks"] == 1
    messages = world.messages(user_profile_id("quiet-1"))
    assert {m["channel"]: m["status"] for m in messages} == {"email": "sent", "in_app": "sent"}


def test_an_opened_welcome_email_is_not_followed_by_the_in_app_welcome(world: World) -> None:
    _email_then_in_app(world)
    _sign_up(world, "reader-1")
    [sent] = world.outbox()
    [pixel] = re.findall(r'src="https://shop\.example(/t/o/[^"]+\.gif)"', sent["html"])
    world.advance(minutes=5)
    opened = world.h.client.http.get(pixel, headers={"Accept": "image/*", "User-Agent": HUMAN_UA})
    assert opened.status_code == 200
    world.drain()
    world.advance(days=2, minutes=1)
    world.drain()
    assert _in_app(world, "reader-1") == []
    messages = world.messages(user_profile_id("reader-1"))
    assert [m["channel"] for m in messages] == ["email"]


def test_a_scenario_step_naming_an_unknown_in_app_message_is_refused_naming_the_field(harness: Harness) -> None:
    scenario = {
        "name": "Bad in-app",
        "when": {"type": "event", "event": "Signed Up"},
        "steps": [{"type": "send", "id": "modal", "channel": "in_app", "template": "no_such_message"}],
    }
    response = harness.client.http.put(
        "/admin/definitions/scenario/bad_in_app", body=json.dumps(scenario), headers=ADMIN
    )
    assert response.status_code == 400, response.body
    assert json.loads(response.body)["field"] == "steps[0].send.template"
    # and an email template is no in-app message either
    scenario["steps"][0]["template"] = "welcome"
    response = harness.client.http.put(
        "/admin/definitions/scenario/bad_in_app", body=json.dumps(scenario), headers=ADMIN
    )
    assert response.status_code == 400 and "in_app" in json.loads(response.body)["message"], response.body
