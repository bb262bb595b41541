"""Recommendations and personalisation over HTTP on moto: views and orders archived, learnt by the nightly job after
the archive's compaction, read back through `GET /v1/recommendations` and `GET /v1/personalize` with at most two
DynamoDB reads a call."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.conftest import ADMIN_TOKEN, ORIGIN, WRITE_KEY, Harness

ADMIN_JSON = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
SHOP = {
    "tea-1": "tea",
    "tea-2": "tea",
    "pot-1": "tea",
    "cup-1": "tea",
    "mug-1": "coffee",
    "bean-1": "coffee",
    "grinder-1": "coffee",
}


def product(pid: str, **extra: Any) -> dict[str, Any]:
    return {"product_id": pid, "name": pid.title(), "price": 10, "category": SHOP[pid], **extra}


def view(h: Harness, anon: str, pid: str, **extra: Any) -> None:
    response = h.post(
        "/v1/track", {"anonymousId": anon, "event": "Product Viewed", "properties": product(pid, **extra)}
    )
    assert response.status_code == 200, response.body


def order(h: Harness, anon: str, order_id: str, pids: list[str]) -> None:
    body = {
        "anonymousId": anon,
        "event": "Order Completed",
        "properties": {"order_id": order_id, "products": [product(p) for p in pids]},
    }
    assert h.post("/v1/track", body).status_code == 200


def get(h: Harness, path: str, origin: str | None = ORIGIN) -> Any:
    headers = {"Origin": origin} if origin else {}
    sep = "&" if "?" in path else "?"
    return h.client.http.get(f"{path}{sep}writeKey={WRITE_KEY}", headers=headers)


def shoppers(h: Harness) -> None:
    # GIVEN tea people view and buy tea things together, coffee people coffee things
    for n in range(6):
        view(h, f"tea-{n}", "tea-1")
        view(h, f"tea-{n}", "pot-1")
        view(h, f"tea-{n}", "cup-1")
        order(h, f"tea-{n}", f"t{n}", ["tea-1", "pot-1"])
        view(h, f"coffee-{n}", "mug-1")
        view(h, f"coffee-{n}", "bean-1")
        view(h, f"coffee-{n}", "grinder-1")
    h.pump.drain()
    assert not h.pump.errors, h.pump.errors
    overnight(h)


def overnight(h: Harness) -> dict[str, Any]:
    """The next night: the archive's compaction, then the similar-items job (here through its admin route)."""
    from datetime import timedelta

    from chalicelib.bootstrap import get_archive_maintenance
    from chalicelib.shared import clock

    clock.set_clock(clock.FakeClock(clock.get_clock().now() + timedelta(days=1)))
    get_archive_maintenance().compact_due(clock.get_clock().now())
    response = h.client.http.post("/admin/recommendations/learn", body="{}", headers=ADMIN_JSON)
    assert response.status_code == 200, response.body
    return dict(json.loads(response.body))


def test_views_become_recommendations_of_similar_products_for_a_new_visitor_of_one_product(harness: Harness):
    shoppers(harness)
    view(harness, "newbie", "tea-1")
    harness.pump.drain()
    response = get(harness, "/v1/recommendations?anonymousId=newbie&limit=3")
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    ids = [i["product_id"] for i in body["items"]]
    assert ids[:2] == ["cup-1", "pot-1"] or ids[:2] == ["pot-1", "cup-1"], body
    assert "tea-1" not in ids  # what they look at is not recommended back
    assert body["items"][0]["reason"] == "similar" and body["items"][0]["name"]
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Cache-Control"] == "private, no-store"


def test_purchased_and_out_of_stock_products_are_never_recommended(harness: Harness):
    shoppers(harness)
    view(harness, "buyer", "tea-1")
    view(harness, "buyer", "cup-1", in_stock=False)  # the latest word on the cup: sold out
    order(harness, "buyer", "b1", ["pot-1"])
    harness.pump.drain()
    ids = [i["product_id"] for i in json.loads(get(harness, "/v1/recommendations?anonymousId=buyer").body)["items"]]
    assert "pot-1" not in ids and "cup-1" not in ids and "tea-1" not in ids
    assert ids  # popular fallbacks fill the list


def test_a_product_the_catalog_sells_out_leaves_recommendations_at_once_and_returns_when_restocked(harness: Harness):
    # GIVEN the shop's catalog has the cup, and a visitor of the tea gets it recommended
    shoppers(harness)
    cup = {"id": "cup-1", "name": "Cup", "price": 12, "currency": "EUR", "stock": 8}
    assert harness.post("/v1/catalog/products", cup).status_code == 200, "the harness key is a server source"
    view(harness, "tea-fan", "tea-1")
    harness.pump.drain()

    def recommended() -> list[str]:
        body = json.loads(get(harness, "/v1/recommendations?anonymousId=tea-fan&limit=5").body)
        return [i["product_id"] for i in body["items"]]

    assert "cup-1" in recommended()
    # WHEN the catalog says it is sold out (no event about the cup says so)
    assert harness.post("/v1/catalog/products", {**cup, "stock": 0}).status_code == 200
    harness.pump.drain()
    # THEN it is no longer recommended (the out-of-stock list rides in the same batch read as the lists)
    assert "cup-1" not in recommended()
    # WHEN it is restocked THEN it is back
    assert harness.post("/v1/catalog/products", {**cup, "stock": 3}).status_code == 200
    harness.pump.drain()
    assert "cup-1" in recommended()


def test_an_unknown_visitor_gets_popular_products_and_a_publicly_cacheable_first_visit(harness: Harness):
    shoppers(harness)
    response = get(harness, "/v1/personalize?slots=hero,recs,banner,nope")
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert body["visitor"] == {"known": False, "first_visit": True}
    assert body["slots"]["hero"]["variant"] == "first_visit"
    assert body["slots"]["recs"]["variant"] == "popular" and len(body["slots"]["recs"]["items"]) == 4
    assert body["slots"]["recs"]["items"][0]["reason"] == "popular"
    assert body["slots"]["banner"]["variant"] == "newsletter"
    assert body["slots"]["nope"] == {}
    assert response.headers["Cache-Control"] == "public, max-age=60"
    unknown = json.loads(get(harness, "/v1/personalize?anonymousId=never-seen&slots=hero").body)
    assert unknown["slots"]["hero"]["variant"] == "first_visit" and unknown["visitor"]["known"] is False


def test_a_returning_visitor_gets_another_hero_and_recommendations_for_them(harness: Harness):
    shoppers(harness)
    view(harness, "back", "mug-1")
    harness.pump.drain()
    body = json.loads(get(harness, "/v1/personalize?anonymousId=back&slots=hero,recs").body)
    assert body["visitor"]["known"] is True
    assert body["slots"]["hero"]["variant"] == "returning_visitor"
    assert body["slots"]["recs"]["variant"] == "for_you"
    assert {i["product_id"] for i in body["slots"]["recs"]["items"][:2]} == {"bean-1", "grinder-1"}


def test_personalisation_reads_dynamodb_at_most_twice_a_call(harness: Harness, reads: list[str]):
    shoppers(harness)
    view(harness, "counted", "tea-1")
    harness.pump.drain()
    get(harness, "/v1/personalize?anonymousId=counted&slots=hero,recs,banner")  # warms the write-key cache
    reads.clear()
    response = get(harness, "/v1/personalize?anonymousId=counted&slots=hero,recs,banner")
    assert response.status_code == 200
    assert reads == ["BatchGetItem", "BatchGetItem"]  # the profile, then the lists of their items
    reads.clear()
    get(harness, "/v1/personalize?slots=hero,banner")  # no recommendations slot, no visitor: nothing to read
    assert reads == []


def test_bad_requests_are_named_4xx(harness: Harness):
    assert get(harness, "/v1/personalize").status_code == 400
    assert json.loads(get(harness, "/v1/personalize?slots=a;b").body)["field"] == "slots"
    assert json.loads(get(harness, "/v1/recommendations?limit=0").body)["field"] == "limit"
    assert json.loads(get(harness, "/v1/recommendations?limit=x").body)["field"] == "limit"
    no_key = harness.client.http.get("/v1/personalize?slots=hero")
    assert no_key.status_code == 401
    assert get(harness, "/v1/personalize?slots=hero", origin="https://evil.example").status_code == 403


def test_lists_are_learnt_by_the_nightly_job_not_per_event_and_a_second_run_counts_nothing(harness: Harness):
    from chalicelib.bootstrap import get_recommendation_service

    store = get_recommendation_service().store
    # GIVEN a day of views and orders folded and archived: the stream consumers wrote no list
    view(harness, "early", "tea-1")
    view(harness, "early", "pot-1")
    harness.pump.drain()
    assert store.read(["sim#tea-1", "pop#*"]) == {}
    # WHEN the night comes THEN the day is learnt, each list written once
    report = overnight(harness)
    assert report["events"] == 2 and report["lists_written"] == report["lists_touched"] == 4
    lists = store.read(["sim#tea-1", "sim#pot-1", "pop#tea"])
    assert lists["sim#tea-1"]["n"] == {"pot-1": 1.0} and lists["pop#tea"]["n"] == {"tea-1": 1.0, "pot-1": 1.0}
    # AND a second run (an operator, a retried schedule) learns nothing twice
    again = harness.client.http.post("/admin/recommendations/learn", body="{}", headers=ADMIN_JSON)
    assert json.loads(again.body)["days"] == [] and store.read(["sim#tea-1", "sim#pot-1", "pop#tea"]) == lists
    # AND history can be asked for on the first run only; bad input is a named 4xx
    late = harness.client.http.post("/admin/recommendations/learn", body='{"since": "2026-01-01"}', headers=ADMIN_JSON)
    assert late.status_code == 409 and json.loads(late.body)["field"] == "since"
    for bad in ('{"since": "yesterday"}', '{"since": "2999-01-01"}', "[1]"):
        response = harness.client.http.post("/admin/recommendations/learn", body=bad, headers=ADMIN_JSON)
        assert response.status_code == 400, (bad, response.body)


def test_admin_sees_a_persons_recommendations_and_a_products_list(harness: Harness):
    shoppers(harness)
    from chalicelib.tracking.identity import profile_id_for

    response = harness.admin(f"/admin/recommendations?profile_id={profile_id_for('anon', 'tea-1')}&limit=5")
    assert response.status_code == 200, response.body
    product = harness.admin("/admin/recommendations/products/tea-1")
    assert product.status_code == 200
    assert set(json.loads(product.body)["list"]["n"]) >= {"pot-1", "cup-1"}
    assert harness.admin("/admin/recommendations/products/none").status_code == 404


def test_the_archives_nightly_schedule_learns_yesterday_after_compacting_it(harness: Harness):
    from datetime import timedelta

    from chalicelib.bootstrap import get_recommendation_service
    from chalicelib.shared import clock

    # GIVEN the stack's clock (as `make run` has it) and a day of views
    clock.set_clock(clock.FakeClock(clock.get_clock().now()))
    view(harness, "night", "mug-1")
    view(harness, "night", "bean-1")
    harness.pump.drain()  # the schedules learn when they are next due
    # WHEN the clock passes the next 02:15 UTC (`POST /local/clock/advance` locally)
    clock.get_clock().advance(timedelta(days=1))  # type: ignore[attr-defined]
    harness.pump.drain()
    assert not harness.pump.errors, harness.pump.errors
    # THEN compaction ran and the similar-items job after it: the day's views are lists
    lists = get_recommendation_service().store.read(["sim#mug-1", "pop#coffee"])
    assert lists["sim#mug-1"]["n"] == {"bean-1": 1.0} and set(lists["pop#coffee"]["n"]) == {"mug-1", "bean-1"}
