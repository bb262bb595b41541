"""Templating: personalisation with safe fallbacks, escaping, money, marketing links, errors, lazy import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.delivery import templating
from chalicelib.delivery.templating import TemplateRenderError, format_money, render

ROOT = Path(__file__).resolve().parents[3]
LINKS = {"unsubscribe_url": "https://shop.example/u/abc?x=1&y=2", "preferences_url": "https://shop.example/prefs/abc"}


def rich_profile() -> dict[str, Any]:
    return {
        "profile_id": "p1",
        "email": "ann@example.com",
        "traits": {"firstName": "Ann", "lastName": "Lee", "company": "Acme & Co"},
        "computed": {
            "cart": [
                {
                    "product_id": "1",
                    "name": "Teapot",
                    "price": 3500,
                    "quantity": 2,
                    "url": "https://s/1",
                    "image_url": "https://s/1.png",
                },
                {"product_id": "2", "name": "Cups <set>", "price": "1200.5", "url": "javascript:alert(1)"},
            ],
            "viewed_products": [
                {"product_id": "1", "name": "Teapot"},
                {"product_id": "3", "name": "Kettle", "price": 8000, "url": "https://s/3"},
                {"product_id": "4"},
            ],
        },
        "scores": {"grade": "A", "engagement": 42},
        "stage": "active",
    }


def extra(**more: Any) -> dict[str, Any]:
    return {**LINKS, "currency": "JPY", **more}


# ---------------------------------------------------------------------------------------------------------------------
# catalogue
# ---------------------------------------------------------------------------------------------------------------------


def test_every_catalogue_entry_has_bodies_and_every_body_is_catalogued() -> None:
    catalogue = templating.load_catalogue()
    on_disk = {p.name.split(".", 1)[0] for p in templating.TEMPLATES_DIR.glob("*.j2") if not p.name.startswith("_")}
    assert on_disk == set(catalogue)
    for tid in catalogue:
        assert templating.template_channels()[tid], f"{tid} serves no channel"


def test_marketing_email_templates_link_unsubscribe_and_preferences() -> None:
    # The layout/footer carry the links; every marketing email body must use them.
    for tid, spec in templating.load_catalogue().items():
        if spec.marketing and "email" in templating.template_channels()[tid]:
            msg = render(tid, rich_profile(), extra(), channel="email")
            assert msg.html is not None and msg.text is not None
            assert 'href="https://shop.example/u/abc?x=1&amp;y=2"' in msg.html
            assert "https://shop.example/prefs/abc" in msg.html
            assert "Unsubscribe: https://shop.example/u/abc?x=1&y=2" in msg.text


@pytest.mark.parametrize("template_id", sorted(templating.load_catalogue()))
def test_every_template_renders_for_an_empty_profile(template_id: str) -> None:
    # GIVEN a profile with nothing but an id WHEN rendered THEN no error and no "None"/undefined leaks
    msg = render(template_id, {"profile_id": "p0"}, extra())
    for body in (msg.subject, msg.html, msg.text, msg.sms):
        if body is not None:
            assert "None" not in body
            assert "Undefined" not in body


@pytest.mark.parametrize("template_id", sorted(templating.load_catalogue()))
def test_every_template_renders_for_a_rich_profile(template_id: str) -> None:
    msg = render(
        template_id, rich_profile(), extra(coupon_code="LOYAL-7Q2X", related_products=[{"name": "Tray", "price": 900}])
    )
    assert msg.subject or msg.sms


# ---------------------------------------------------------------------------------------------------------------------
# personalisation
# ---------------------------------------------------------------------------------------------------------------------


def test_a_missing_first_name_leaves_no_placeholder_word() -> None:
    msg = render("welcome", {"profile_id": "p", "traits": {"firstName": "  "}}, extra(), channel="email")
    assert msg.subject == "Welcome!"
    assert (msg.text or "").startswith("Hi,\n")
    assert "there" not in (msg.text or "") + (msg.html or "")


def test_cart_items_with_prices_and_total_in_currency() -> None:
    msg = render("cart_reminder", rich_profile(), extra(cart_url="https://s/cart"), channel="email")
    text = msg.text or ""
    assert "- Teapot x 2: ¥7,000 https://s/1" in text
    assert "- Cups <set> x 1: ¥1,200" in text  # JPY has no minor unit; the javascript: URL is dropped
    assert "Total: ¥8,200" in text
    assert "Return to your cart: https://s/cart" in text


def test_recently_viewed_excludes_cart_items_and_nameless_products() -> None:
    msg = render("browse_reminder", rich_profile(), extra(), channel="email")
    assert msg.subject == "Still interested in Kettle?"
    assert "- Kettle: ¥8,000 https://s/3" in (msg.text or "")
    assert "Teapot" not in (msg.text or "")


def test_related_products_and_coupon_come_from_the_caller() -> None:
    post = render("post_purchase", rich_profile(), extra(related_products=[{"name": "Tray", "price": 900}]))
    assert "- Tray: ¥900" in (post.text or "")
    loyal = render("loyal_thanks", rich_profile(), extra(coupon_code="LOYAL-7Q2X", discount="15%"))
    assert "LOYAL-7Q2X" in (loyal.html or "") and "LOYAL-7Q2X" in (loyal.sms or "")
    assert "15% off" in (loyal.text or "")


def test_html_is_escaped_but_text_subject_and_sms_are_not() -> None:
    p = rich_profile()
    p["traits"]["firstName"] = "<b>Ann</b> & co"
    msg = render("cart_reminder_final", p, extra())
    assert "&lt;b&gt;Ann&lt;/b&gt; &amp; co" in (msg.html or "")
    assert "<b>Ann</b>" not in (msg.html or "")
    assert msg.subject == "Still thinking it over, <b>Ann</b> & co?"
    assert "<b>Ann</b> & co" in (msg.text or "")
    assert "<b>Ann</b> & co" in (msg.sms or "")


def test_javascript_urls_from_tracked_data_are_dropped() -> None:
    msg = render("cart_reminder", rich_profile(), extra(), channel="email")
    assert "javascript:" not in (msg.html or "") + (msg.text or "")


def test_subject_is_one_line() -> None:
    p = {"profile_id": "p", "traits": {"firstName": "Ann\r\nBcc: evil@example.com"}}
    msg = render("welcome", p, extra(), channel="email")
    assert "\n" not in msg.subject and "\r" not in msg.subject


def test_mql_alert_is_plain_text_for_sales() -> None:
    msg = render("mql_alert", rich_profile(), {"admin_url": "https://admin/p1"}, channel="sales_alert")
    assert msg.subject == "MQL: Acme & Co (grade A)"
    assert msg.html is None
    assert "Name:       Ann Lee" in (msg.text or "")
    assert "Open:       https://admin/p1" in (msg.text or "")


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (1200, "JPY", "¥1,200"),
        (1200.6, "jpy", "¥1,201"),
        (12.5, "USD", "$12.50"),
        ("7", "EUR", "€7.00"),
        (-3, "GBP", "-£3.00"),
        (1234.5, "CHF", "CHF1,234.50"),  # CLDR en pattern, as Babel gives it
        (None, "USD", ""),
        ("abc", "USD", ""),
        (True, "USD", ""),
        (float("nan"), "USD", ""),
        (5, "not a code", "$5.00"),
    ],
)
def test_money_formatting(value: Any, currency: str, expected: str) -> None:
    assert format_money(value, currency) == expected


# ---------------------------------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------------------------------


def test_marketing_email_without_unsubscribe_url_is_an_error() -> None:
    with pytest.raises(TemplateRenderError, match="needs unsubscribe_url"):
        render("welcome", rich_profile(), {"preferences_url": "https://p"}, channel="email")


def test_transactional_and_sales_templates_need_no_unsubscribe() -> None:
    # GIVEN no unsubscribe_url  WHEN a sales alert and a transactional email render  THEN they render, without a footer
    alert = render("mql_alert", rich_profile(), {}, channel="sales_alert")
    assert alert.subject == "MQL: Acme & Co (grade A)" and "Name:       Ann Lee" in (alert.text or "")
    welcome = render("welcome", rich_profile(), {}, channel="email", marketing=False)
    assert welcome.subject == "Welcome, Ann!" and "Thanks for signing up" in (welcome.text or "")
    assert "nsubscribe" not in (welcome.html or "") + (welcome.text or "")
    # (the same template as marketing carries the unsubscribe link in both bodies)
    marketing = render("welcome", rich_profile(), extra(), channel="email")
    assert "nsubscribe" in (marketing.html or "") and "nsubscribe" in (marketing.text or "")


def test_unknown_template_and_missing_channel_body_are_errors() -> None:
    with pytest.raises(TemplateRenderError, match="unknown template"):
        render("nope", rich_profile(), extra())
    with pytest.raises(TemplateRenderError, match="no sms body"):
        render("welcome", rich_profile(), extra(), channel="sms")


def _custom_dir(tmp_path: Path, body: str, subject: str = "Hi") -> Path:
    (tmp_path / "templates.json").write_text(json.dumps({"t": {"subject": subject, "marketing": False}}))
    (tmp_path / "t.txt.j2").write_text(body)
    return tmp_path


@pytest.mark.parametrize(
    "body",
    [
        "{% if %}",  # syntax error
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # sandbox escape attempt
        "{{ cart.append(1) }}",  # immutable sandbox: templates cannot mutate data
        "{{ 1 / 0 }}",
        "{% include 'missing.txt.j2' %}",
    ],
)
def test_template_faults_raise_template_render_error(tmp_path: Path, body: str) -> None:
    directory = _custom_dir(tmp_path, body)
    with pytest.raises(TemplateRenderError):
        render("t", rich_profile(), {}, templates_dir=directory)


def test_unsafe_attributes_render_as_nothing(tmp_path: Path) -> None:
    directory = _custom_dir(tmp_path, "[{{ ''.__class__ }}][{{ cart.__len__ }}]")
    assert render("t", rich_profile(), {}, templates_dir=directory).text == "[][]\n"


def test_missing_nested_values_render_empty_not_error(tmp_path: Path) -> None:
    directory = _custom_dir(tmp_path, "[{{ traits.a.b.c }}][{{ profile.nothing|money }}][{{ computed.x }}]")
    assert render("t", {}, {}, templates_dir=directory).text == "[][][]\n"


@settings(max_examples=60, deadline=None)
@given(
    first=st.one_of(st.none(), st.text(max_size=20), st.integers()),
    price=st.one_of(st.none(), st.text(max_size=5), st.floats(allow_nan=True), st.integers()),
    qty=st.one_of(st.none(), st.integers(min_value=-2, max_value=5), st.text(max_size=3)),
)
def test_odd_profile_values_never_break_rendering(first: Any, price: Any, qty: Any) -> None:
    p = {
        "profile_id": "p",
        "traits": {"firstName": first},
        "computed": {"cart": [{"product_id": "1", "name": "X", "price": price, "quantity": qty}, "junk"]},
    }
    msg = render("cart_reminder_final", p, extra())
    assert msg.text and msg.html and msg.sms


def test_importing_templating_does_not_import_jinja2_or_babel() -> None:
    code = "import sys; import chalicelib.delivery.templating; print('jinja2' in sys.modules, 'babel' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
