"""Template lint (runs in `make test`; `make lint-templates` also saves the rendered mails to build/email-previews).

Every shipped marketing template renders, under StrictUndefined, for a profile with nothing and for full ones (en and
ja, a cart in EUR and JPY, viewed products); the HTML has a tracked link back to the shop, unsubscribe and preference
links, alt text on every image, no external CSS or script, the 600px layout; no output shows an unfilled variable or
a placeholder word.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.delivery import templating
from chalicelib.engagement import tokens as lt
from chalicelib.engagement.links import LinkSettings

API = "https://api.shop.example"
SHOP = "https://shop.example/"
RING = lt.Keyring({"k1": b"k1-secret-0123456789abcdef-32byt"}, current="k1")
LINKS = LinkSettings(API, "unsubscribe@shop.example", keyring=lambda: RING, signing_key=lambda: "coupon-key")
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PREVIEW_DIR = os.environ.get("ONE2ONE_EMAIL_PREVIEW_DIR")

CART = [
    {
        "product_id": "p-102",
        "name": "Trail Shoes",
        "price": 89.0,
        "quantity": 1,
        "currency": "EUR",
        "url": "https://shop.example/p/102",
        "image_url": "https://shop.example/img/102.jpg",
    },
    {"product_id": "p-9", "name": "Matcha Set", "price": 1200, "quantity": 2, "currency": "JPY"},  # no URL, no image
]
VIEWED = [
    {
        "product_id": "p-103",
        "name": "Canvas Backpack",
        "price": 54.0,
        "currency": "EUR",
        "views": 3,
        "url": "https://shop.example/p/103",
        "image_url": "https://shop.example/img/103.jpg",
        "at": "2026-03-01T00:00:00Z",
    },
    {"product_id": "p-104", "name": "Desk Plant", "price": 15.0, "views": 1, "at": "2026-02-28T00:00:00Z"},
]


def full_profile(locale: str) -> dict[str, Any]:
    return {
        "profile_id": f"p-{locale}",
        "email": "anna@example.com",
        "traits": {"firstName": "Anna", "lastName": "Berg", "locale": locale},
        "computed": {
            "cart": CART,
            "viewed_products": VIEWED,
            "last_seen": "2026-01-10T09:00:00Z",
            "last_order_at": "2026-02-20T12:00:00Z",
        },
    }


PROFILES: dict[str, dict[str, Any]] = {
    "empty": {"profile_id": "p-empty"},
    "full_en": full_profile("en-US"),
    "full_ja": full_profile("ja-JP"),
}
MARKETING_EMAILS = sorted(
    tid
    for tid, spec in templating.load_catalogue().items()
    if spec.marketing and "email" in templating.template_channels()[tid]
)
SMS = sorted(tid for tid, channels in templating.template_channels().items() if "sms" in channels)
# What must never reach a reader: unfilled Jinja, Python's None, a JS/Jinja undefined, a placeholder name.
LEAKS = re.compile(r"\{\{|\{%|\bNone\b|(?i:\bundefined\b|\bthere\b|\bnan\b)|href=\"\"")


# A catalog trigger's run always carries the product that changed (scenarios/catalog_triggers.py).
CATALOG_TRIGGERED = {"back_in_stock", "low_stock"}
TRIGGER_PRODUCT = {
    "product_id": "trail-shoes",
    "name": "Trail Shoes",
    "price": 89.0,
    "currency": "EUR",
    "url": "https://shop.example/p/trail-shoes",
    "image_url": "https://shop.example/img/trail-shoes.jpg",
    "stock": 2,
}


def extra(template_id: str) -> dict[str, Any]:
    token = LINKS.unsubscribe_token("p", "email", "offers", "m1")
    return {
        **({"product": dict(TRIGGER_PRODUCT)} if template_id in CATALOG_TRIGGERED else {}),
        "unsubscribe_url": LINKS.unsubscribe_url(token),
        "preferences_url": LINKS.preferences_url(token),
        "currency": "JPY",  # the shop's default: only items naming no currency use it
        "default_locale": "en",
        "shop_url": SHOP,
        "cart_url": "https://shop.example/cart",
        "coupon_code": "WELCOME-7Q2X",
        "discount": "10%",
        "related_products": [{"product_id": "r1", "name": "Shoe Care Kit", "price": 19.0, "currency": "EUR"}],
        "message_id": f"m-{template_id}",
    }


def strict_render(template_id: str, profile: dict[str, Any]) -> dict[str, str]:
    """The subject and bodies rendered with StrictUndefined: any variable a template uses and nobody set fails."""
    from jinja2 import StrictUndefined

    spec = templating.load_catalogue()[template_id]
    env = templating._environment(str(templating.TEMPLATES_DIR)).overlay(undefined=StrictUndefined)
    context = templating.build_context(profile, extra(template_id))
    context["marketing"] = spec.marketing
    out = {"subject": env.from_string(spec.subject).render(context)}
    for kind in sorted(templating.template_bodies(template_id)):
        out[kind] = env.get_template(f"{template_id}{templating.BODY_SUFFIXES[kind]}").render(context)
    return out


def save_preview(template_id: str, profile_name: str, bodies: dict[str, str]) -> None:
    if not PREVIEW_DIR:
        return
    target = Path(PREVIEW_DIR)
    target.mkdir(parents=True, exist_ok=True)
    for kind, body in bodies.items():
        suffix = {"html": "html", "text": "txt", "sms": "sms.txt", "subject": "subject.txt"}[kind]
        (target / f"{template_id}.{profile_name}.{suffix}").write_text(body, encoding="utf-8")


@pytest.mark.parametrize("profile_name", sorted(PROFILES))
@pytest.mark.parametrize("template_id", MARKETING_EMAILS)
def test_every_marketing_email_renders_strictly_with_tracked_links_and_unsubscribe(template_id: str, profile_name: str):
    # GIVEN a shipped marketing email and a profile with nothing / everything
    profile = PROFILES[profile_name]
    # WHEN it renders with StrictUndefined, and through the real render + link tracking of the send path
    strict = strict_render(template_id, profile)
    msg = templating.render(template_id, profile, extra(template_id), channel="email")
    assert msg.html is not None and msg.text is not None
    tracked = LINKS.track_links(msg.html, "p", f"m-{template_id}", NOW)
    save_preview(template_id, profile_name, {"subject": msg.subject, "html": tracked, "text": msg.text})
    # THEN nothing unfilled or placeholder-like shows
    for kind, body in [("subject", msg.subject), ("html", msg.html), ("text", msg.text), *strict.items()]:
        assert not LEAKS.search(body), f"{template_id}/{profile_name} {kind}: {LEAKS.search(body)}"
    # AND the HTML links back to the shop (click-tracked once rewritten) and carries unsubscribe + preferences
    shop_links = [u for u in re.findall(r'href="([^"]+)"', msg.html) if u.startswith("https://shop.example/")]
    assert shop_links, f"{template_id}: no link back to the shop"
    assert re.search(rf'href="{API}/t/c/[^"]+"', tracked)
    assert f'href="{API}/u/' in tracked and f'href="{API}/preferences/' in tracked
    assert f"{API}/u/" in msg.text and f"{API}/preferences/" in msg.text
    # AND it is the one email-safe layout: tables, inline styles, 600px, no external CSS or script, alt on images
    assert "max-width:600px" in msg.html and 'role="presentation"' in msg.html
    assert not re.search(r"<link\b|<script\b|<style\b", msg.html, re.IGNORECASE)
    assert all(re.search(r'\balt="', img) for img in re.findall(r"<img\b[^>]*>", tracked))


@pytest.mark.parametrize("profile_name", sorted(PROFILES))
@pytest.mark.parametrize("template_id", SMS)
def test_every_sms_renders_strictly_without_placeholders(template_id: str, profile_name: str) -> None:
    sms = strict_render(template_id, PROFILES[profile_name])["sms"]
    assert not LEAKS.search(sms), sms


def test_the_cart_reminder_shows_each_price_in_its_own_currency_in_the_recipients_locale() -> None:
    # GIVEN a ja recipient whose cart holds a EUR and a JPY item, in a shop whose default currency is JPY
    msg = templating.render("cart_reminder", PROFILES["full_ja"], extra("cart_reminder"), channel="email")
    text, html = msg.text or "", msg.html or ""
    # THEN the EUR price is in euros, the JPY one in yen (ja's full-width sign), and the totals are not added up
    assert "- Trail Shoes x 1: €89.00 https://shop.example/p/102" in text
    assert "- Matcha Set x 2: ￥2,400 https://shop.example/" in text  # no URL: the shop's home, never empty
    assert "合計: €89.00 + ￥2,400" in text and "¥89" not in html + text
    # AND the greeting is the recipient's, the cart button goes to the cart, and the frame is in Japanese
    assert text.startswith("Anna 様\n") and '<html lang="ja">' in html
    assert 'href="https://shop.example/cart"' in html and "配信停止" in html


def test_an_anonymous_en_recipient_is_greeted_without_a_name() -> None:
    msg = templating.render("cart_reminder_final", PROFILES["empty"], extra("cart_reminder_final"), channel="email")
    assert msg.subject == "Still thinking it over?"
    assert (msg.text or "").startswith("Hi,\n") and ">Hi,</p>" in (msg.html or "")


def test_without_any_shop_url_no_card_or_button_has_an_empty_href() -> None:
    bare = {**extra("cart_reminder"), "shop_url": "", "cart_url": ""}
    profile = {"profile_id": "p", "computed": {"cart": [{"product_id": "x", "name": "Mug", "price": 5}]}}
    html = templating.render("cart_reminder", profile, bare, channel="email").html or ""
    assert 'href=""' not in html and "<strong>Mug</strong>" in html


def test_a_single_product_from_the_caller_gets_a_currency_and_a_link_too() -> None:
    context = templating.build_context({"profile_id": "p"}, {**extra("x"), "product": {"name": "Mug", "price": 5}})
    assert context["product"]["link"] == SHOP and context["product"]["currency"] == "JPY"
