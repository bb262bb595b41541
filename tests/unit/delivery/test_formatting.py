"""Money, numbers, dates and greetings in the recipient's locale (Babel), each price in its own currency."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from chalicelib.delivery import formatting as fmt


@pytest.mark.parametrize(
    ("value", "currency", "locale", "expected"),
    [
        (89, "EUR", "en", "€89.00"),
        (89, "EUR", "ja_JP", "€89.00"),  # a EUR price never gets the shop's ¥
        (12.5, "EUR", "de_DE", "12,50\xa0€"),
        (1200, "JPY", "en", "¥1,200"),
        (1200, "JPY", "ja", "￥1,200"),
        (1200.4, "jpy", "en", "¥1,200"),  # JPY has no minor unit
        (5, "???", "en", "$5.00"),  # a junk currency falls back
        (5, "USD", "xx-nowhere", "$5.00"),  # a junk locale falls back
        ("abc", "USD", "en", ""),
        (None, "USD", "en", ""),
        (1e308, "USD", "en", ""),
    ],
)
def test_money_in_the_recipients_locale_and_the_items_currency(value: Any, currency: str, locale: str, expected: str):
    assert fmt.format_money(value, currency, locale) == expected


def test_numbers_and_dates_follow_the_locale() -> None:
    assert fmt.format_number(1234.5, "en") == "1,234.5"
    assert fmt.format_number(1234.5, "de") == "1.234,5"
    assert fmt.format_date("2026-03-05T10:00:00Z", "en") == "Mar 5, 2026"
    assert fmt.format_date(date(2026, 3, 5), "ja") == "2026/03/05"
    assert fmt.format_date("yesterday", "en") == "" and fmt.format_date(None, "en") == ""


def test_totals_in_two_currencies_are_never_added_up() -> None:
    totals = [{"currency": "EUR", "amount": 89.0}, {"currency": "JPY", "amount": 1200}]
    assert fmt.format_totals(totals, "en") == "€89.00 + ¥1,200"


@pytest.mark.parametrize(
    ("name", "locale", "expected"),
    [
        ("Anna", "en", "Hi Anna,"),
        (None, "en", "Hi,"),
        ("  ", "en_GB", "Hi,"),
        ("Anna", "ja-JP", "Anna 様"),
        ("", "ja", "こんにちは。"),
        ("Anna", "sv", "Hi Anna,"),
    ],
)
def test_greeting_never_shows_a_placeholder(name: str | None, locale: str, expected: str) -> None:
    assert fmt.greeting(name, locale) == expected


def test_recipient_locale_prefers_caller_then_trait_then_browser_then_default() -> None:
    profile = {"traits": {"locale": "ja-JP"}, "demographics": {"locale": "de-DE"}}
    assert fmt.recipient_locale(profile, {"locale": "fr"}) == "fr"
    assert fmt.recipient_locale(profile, {}) == "ja_JP"
    assert fmt.recipient_locale({"demographics": {"locale": "de-DE"}}, {}) == "de_DE"
    assert fmt.recipient_locale({"traits": {"locale": "klingon!"}}, {}, default="ja") == "ja"
