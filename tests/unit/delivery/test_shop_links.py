"""Where cards and buttons point: event cart_url, source settings, source origin, delivery.json — never empty."""

from __future__ import annotations

from chalicelib.delivery.shop_links import shop_links
from chalicelib.tracking.sources import Source, SourceSettings


def source(source_id: str, origins: list[str], created_at: str = "2026-01-01", **settings: str) -> Source:
    return Source(
        source_id=source_id,
        key_hash=f"h-{source_id}-{created_at}",
        allowed_origins=origins,
        created_at=created_at,
        settings=SourceSettings(**settings),
    )


def test_the_events_cart_url_wins_then_the_sources_settings() -> None:
    web = source(
        "web", ["https://shop.example"], shop_url="https://shop.example/en/", cart_url="https://shop.example/cart"
    )
    assert shop_links([web], "web", context={"cart_url": "https://shop.example/cart?id=9"}) == {
        "shop_url": "https://shop.example/en/",
        "cart_url": "https://shop.example/cart?id=9",
    }
    assert (
        shop_links([web], "web", context={"cart_url": "javascript:alert(1)"})["cart_url"] == "https://shop.example/cart"
    )


def test_without_settings_the_sources_origin_is_the_shop_and_the_cart_falls_back_to_it() -> None:
    web = source("web", ["*", "https://shop.example/"])
    assert shop_links([web], "web") == {"shop_url": "https://shop.example/", "cart_url": "https://shop.example/"}


def test_a_run_without_a_source_or_from_a_server_key_finds_the_shop_of_another_source() -> None:
    web = source("web", ["https://shop.example"])
    server = source("backend", [])
    assert shop_links([server, web], "backend")["shop_url"] == "https://shop.example/"
    assert shop_links([server, web], None)["shop_url"] == "https://shop.example/"


def test_the_newest_key_records_settings_win_and_delivery_json_is_the_last_resort() -> None:
    old = source("web", [], created_at="2026-01-01", shop_url="https://old.example/")
    new = source("web", [], created_at="2026-02-01", shop_url="https://new.example/")
    assert shop_links([old, new], "web")["shop_url"] == "https://new.example/"
    assert shop_links([], None, fallback_shop_url="https://cfg.example/") == {
        "shop_url": "https://cfg.example/",
        "cart_url": "https://cfg.example/",
    }
    assert shop_links([], None) == {"shop_url": "", "cart_url": ""}
