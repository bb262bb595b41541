"""The catalog's HTTP face on moto: a server source writes products, a browser key may not; the admin API reads,
writes, lists and bulk-loads (mixed good and bad rows: the good ones loaded, each bad line reported)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import ADMIN_TOKEN, Harness

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def api(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    from chalicelib import bootstrap
    from chalicelib.bootstrap import get_source_registry

    monkeypatch.setenv("ONE2ONE_CATALOG_HOSTS", "https://shop.example")
    bootstrap.reset()
    get_source_registry().upsert_source("browser", "public-key", ["https://shop.example"], kind="client")
    yield harness


def post(h: Harness, body: Any, key: str = "test-write-key") -> Any:
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    raw = body if isinstance(body, str) else json.dumps(body)
    return h.client.http.post(
        "/v1/catalog/products", body=raw, headers={"Authorization": auth, "Content-Type": "application/json"}
    )


def test_a_server_source_writes_products_and_each_bad_one_is_named(api: Harness) -> None:
    good = {"id": "p1", "name": "Tee", "price": 19, "currency": "EUR", "url": "https://shop.example/p1", "stock": 4}
    bad = {"id": "p2", "name": "Mug", "price": -3, "currency": "EUR"}
    response = post(api, {"products": [good, bad]})
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert body["products"] == [{"index": 0, "id": "p1", "status": "created", "version": 1}]
    assert body["rejected"][0]["field"] == "products[1].price"
    assert any("price" in json.dumps(row) for row in api.failed_events())  # kept for inspection, like events
    stored = json.loads(api.admin("/admin/catalog/products/p1").body)
    assert (stored["price"], stored["stock"], stored["in_stock"]) == (19, 4, True)


@pytest.mark.parametrize(
    ("body", "key", "status", "error"),
    [
        ({"id": "p1", "name": "T", "price": 1, "currency": "EUR"}, "public-key", 403, "server_source_required"),
        ({"id": "p1", "name": "T", "price": 1, "currency": "EUR"}, "unknown-key", 401, "unauthorized"),
        ("{not json", "test-write-key", 400, "invalid_json"),
        ({"products": []}, "test-write-key", 400, "invalid_products"),
        (
            {"id": "p1", "name": "T", "price": 1, "currency": "EUR", "url": "https://evil.example/x"},
            "test-write-key",
            400,
            "invalid_product",
        ),
    ],
)
def test_refused_catalog_writes_answer_4xx_with_a_reason(
    api: Harness, body: Any, key: str, status: int, error: str
) -> None:
    response = post(api, body, key)
    assert response.status_code == status, response.body
    payload = json.loads(response.body)
    assert payload.get("error") == error or payload["rejected"][0]["error"] == error


def test_admin_put_get_and_list_with_a_cursor(api: Harness) -> None:
    for n in range(5):
        body = json.dumps({"name": f"P{n}", "price": 10 + n, "currency": "JPY"})
        response = api.client.http.put(
            f"/admin/catalog/products/p{n}", body=body, headers={**ADMIN, "Content-Type": "application/json"}
        )
        assert response.status_code == 201, response.body
    bad = api.client.http.put(
        "/admin/catalog/products/p9",
        body='{"name": "X", "price": 1, "currency": "ABC"}',
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert bad.status_code == 400 and json.loads(bad.body)["field"] == "currency"
    assert api.admin("/admin/catalog/products/nope").status_code == 404
    assert api.admin("/admin/catalog/products?cursor=%%%").status_code == 400
    seen, cursor = [], None
    for _ in range(5):
        page = json.loads(api.admin("/admin/catalog/products?limit=2" + (f"&cursor={cursor}" if cursor else "")).body)
        seen += [p["id"] for p in page["products"]]
        cursor = page["cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"p{n}" for n in range(5)]


def test_a_csv_upload_loads_the_good_rows_and_reports_the_bad_lines(api: Harness) -> None:
    csv_text = (
        "id,name,price,currency,stock,url\n"
        "c1,Tee,19,EUR,3,https://shop.example/c1\n"
        "c2,Mug,-1,EUR,3,\n"
        "c3,Cap,5,XXX,1,\n"
        "c4,Bag,40,EUR,-2,\n"
        "c5,Hat,12,EUR,0,https://evil.example/c5\n"
        "c6,Pen,2,JPY,100,\n"
    )
    response = api.client.http.post(
        "/admin/catalog/import", body=csv_text, headers={**ADMIN, "Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.body
    report = json.loads(response.body)
    assert report["accepted"] == 2
    assert [(r["line"], r["id"], r["field"]) for r in report["rejected"]] == [
        (3, "c2", "price"),
        (4, "c3", "currency"),
        (5, "c4", "stock"),
        (6, "c5", "url"),
    ]
    assert api.admin("/admin/catalog/products/c6").status_code == 200
    unknown = api.client.http.post(
        "/admin/catalog/import", body="id,prize\nx,1\n", headers={**ADMIN, "Content-Type": "text/csv"}
    )
    assert unknown.status_code == 400 and "prize" in json.loads(unknown.body)["message"]
