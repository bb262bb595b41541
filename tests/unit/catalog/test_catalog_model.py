"""Product validation and reading uploads: what is refused names its field and reason, the rest is kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.catalog import CatalogService, ProductError, UploadError, validate_product
from chalicelib.catalog.bulk import parse
from chalicelib.shared.clock import FakeClock
from tests.fakes.catalog import InMemoryCatalogStore

SITES = {"https://shop.example"}
GOOD = {"id": "p1", "name": "Tee", "price": 19.5, "currency": "eur", "url": "https://shop.example/p1", "stock": 3}


def test_a_good_product_is_normalised() -> None:
    product = validate_product(GOOD, SITES)
    assert (product.currency, product.stock, product.available) == ("EUR", 3, True)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"price": -1}, "price", "greater than or equal to 0"),
        ({"stock": -2}, "stock", "greater than or equal to 0"),
        ({"currency": "XYZ"}, "currency", "unknown currency"),
        ({"url": "https://evil.example/p1"}, "url", "not one of the shop's sites"),
        ({"image": "javascript:alert(1)"}, "image", "http(s) URL"),
        ({"price": float("nan")}, "price", "finite"),
        ({"prize": 3}, "prize", "Extra inputs"),
        ({"variants": [{"id": "v1", "stock": -1}]}, "variants[0].stock", "greater than or equal to 0"),
        ({"variants": [{"id": "v1", "url": "https://evil.example/v"}]}, "variants[0].url", "shop's sites"),
        ({"id": "a/b"}, "id", "pattern"),
    ],
)
def test_bad_products_are_refused_with_the_field_and_reason(change: dict, field: str, reason: str) -> None:
    with pytest.raises(ProductError) as caught:
        validate_product({**GOOD, **change}, SITES)
    assert caught.value.field == field and reason in caught.value.reason


def test_without_a_configured_site_urls_are_refused_and_say_what_to_set() -> None:
    with pytest.raises(ProductError, match="ONE2ONE_CATALOG_HOSTS"):
        validate_product(GOOD, set())


def test_the_path_id_must_agree_with_the_body() -> None:
    with pytest.raises(ProductError, match="path"):
        validate_product(GOOD, SITES, product_id="p2")
    assert validate_product({k: v for k, v in GOOD.items() if k != "id"}, SITES, product_id="p9").id == "p9"


def test_out_of_stock_and_uncounted_availability() -> None:
    assert not validate_product({**GOOD, "stock": 0}, SITES).available
    assert validate_product({**GOOD, "stock": None, "availability": "preorder"}, SITES).available
    assert not validate_product({**GOOD, "stock": 5, "availability": "discontinued"}, SITES).available


def test_csv_rows_keep_their_line_numbers_and_variant_rows_join_their_product() -> None:
    text = (
        "id,name,price,currency,stock,parent_id,option_size\n"
        "p1,Tee,19,EUR,3,,\n"
        "p1-m,,21,,2,p1,M\n"
        "p2,Mug,bad,EUR,1,,\n"
        "p3-x,,5,,1,nope,\n"
    )
    rows, rejected = parse(text, "csv")
    assert [line for line, _ in rows] == [2, 4]
    assert rows[0][1]["variants"] == [{"id": "p1-m", "price": "21", "stock": "2", "options": {"size": "M"}}]
    assert rejected == [
        {"line": 5, "id": "p3-x", "field": "parent_id", "reason": "parent_id 'nope' is not a product of this file"}
    ]


def test_an_unknown_csv_column_refuses_the_file() -> None:
    with pytest.raises(UploadError, match="prize"):
        parse("id,prize\np1,3\n", "csv")
    with pytest.raises(UploadError, match="format"):
        parse("", "xml")


def test_bulk_load_keeps_the_good_rows_and_reports_each_bad_line() -> None:
    store = InMemoryCatalogStore()
    service = CatalogService(store, FakeClock(datetime(2026, 3, 2, tzinfo=UTC)), lambda: ["https://shop.example"])
    text = "\n".join(
        [
            '{"id": "p1", "name": "Tee", "price": 19, "currency": "EUR", "stock": 3}',
            '{"id": "p2", "name": "Mug", "price": -1, "currency": "EUR"}',
            "not json",
            "",
            '{"id": "p3", "name": "Cap", "price": 9, "currency": "ZZZ"}',
            '{"id": "p4", "name": "Bag", "price": 40, "currency": "EUR", "url": "https://elsewhere.example/b"}',
            '{"id": "p1", "name": "Tee again", "price": 18, "currency": "EUR"}',
            '{"id": "p5", "name": "Pen", "price": 2, "currency": "JPY", "stock": 0}',
        ]
    )
    report = service.bulk_load(text, "jsonl").as_dict()
    assert (report["accepted"], report["created"]) == (2, 2)
    assert [(r["line"], r["field"]) for r in report["rejected"]] == [
        (2, "price"),
        (3, ""),
        (5, "currency"),
        (6, "url"),
        (7, "id"),
    ]
    assert sorted(store.items) == ["p1", "p5"]
    # the same upload again: nothing changes, nothing is written
    again = service.bulk_load(text, "jsonl")
    assert (again.unchanged, store.writes) == (2, 2)


def test_a_write_older_than_the_stored_product_is_stale_and_price_changes_are_kept_in_history() -> None:
    store = InMemoryCatalogStore()
    service = CatalogService(store, FakeClock(datetime(2026, 3, 2, tzinfo=UTC)), lambda: ["https://shop.example"])
    service.upsert({**GOOD, "updated_at": "2026-03-02T00:00:00Z"})
    status, stored = service.upsert({**GOOD, "price": 15, "updated_at": "2026-03-03T00:00:00Z"})
    assert status == "updated" and [p.price for p in stored.price_history] == [19.5, 15]
    status, stored = service.upsert({**GOOD, "price": 99, "updated_at": "2026-03-01T00:00:00Z"})
    assert status == "stale" and stored.product.price == 15


def test_templates_prefer_the_catalogs_name_price_and_url_over_what_events_said() -> None:
    from chalicelib.delivery.templating import build_context, render

    profile = {
        "profile_id": "p",
        "computed": {
            "viewed_products": [{"product_id": "p1", "name": "Old name", "price": 99, "url": "https://x.example"}]
        },
    }
    catalog = {
        "p1": {"product_id": "p1", "name": "Tee", "price": 19.5, "currency": "EUR", "url": "https://shop.example/p1"}
    }
    context = build_context(profile, {"catalog": catalog, "product": {"product_id": "p1", "name": "Remembered"}})
    assert context["viewed_products"][0]["name"] == "Tee" and context["viewed_products"][0]["price"] == 19.5
    assert context["product"]["url"] == "https://shop.example/p1"
    extra = {
        "catalog": catalog,
        "product": {"product_id": "p1", "stock": 2},
        "unsubscribe_url": "u",
        "preferences_url": "p",
    }
    text = render("low_stock", profile, {**extra, "currency": "JPY"}, channel="email").text or ""
    assert "Tee: €19.50 https://shop.example/p1" in text  # the product's own currency, not the shop default
