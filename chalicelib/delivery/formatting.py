"""Locale-aware money, numbers, dates and greetings for message templates (Babel, imported on first use).

The recipient's locale picks the format (`ja` -> `￥1,200`, `de` -> `12,50 €`); the item's own currency picks the
symbol and minor units, so a EUR price is never shown with the shop's default symbol. Babel is imported lazily: only
the delivery Lambda formats, and its import must not land on the tracking or fold cold start.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from chalicelib.profiles import view

DEFAULT_LOCALE = "en"
MAX_AMOUNT = 1e15  # beyond any real price or count; Babel's Decimal context cannot format 1e308 anyway
_CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}$")

# Words the shared layout and greeting need, per language. Body copy is the template's (or a stored template's) job;
# these are the few words every marketing mail carries, so a ja recipient never gets an English frame.
UI_STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "greeting": "Hi {name},",
        "greeting_anonymous": "Hi,",
        "total": "Total",
        "quantity": "Qty",
        "view": "View",
        "unsubscribe": "Unsubscribe",
        "preferences": "Email preferences",
        "why": "You are receiving this email because you agreed to hear from {brand}.",
        "us": "us",
    },
    "ja": {
        "greeting": "{name} 様",
        "greeting_anonymous": "こんにちは。",
        "total": "合計",
        "quantity": "数量",
        "view": "詳しく見る",
        "unsubscribe": "配信停止",
        "preferences": "メール配信設定",
        "why": "このメールは {brand} からのお知らせの受け取りに同意いただいた方にお送りしています。",
        "us": "当店",
    },
}


@lru_cache(maxsize=64)
def _babel_locale(tag: str) -> Any:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def normalize_locale(value: Any, fallback: str = DEFAULT_LOCALE) -> str:
    """A Babel-known locale tag (`ja_JP`, `en`), or `fallback` for anything unknown, empty or not a string."""
    if isinstance(value, str) and value.strip() and len(value) <= 35:
        loc = _babel_locale(value.strip())
        if loc is not None:
            return str(loc)
    return fallback


def recipient_locale(profile: Mapping[str, Any], extra: Mapping[str, Any], default: str = DEFAULT_LOCALE) -> str:
    """The locale a message is written for: the caller's `locale` (e.g. a step param), else the profile's locale
    trait, else the locale the browser reported (`demographics.locale`, from `context.locale`), else `default`."""
    fallback = normalize_locale(default, DEFAULT_LOCALE)
    traits = view.traits(profile)
    for value in (extra.get("locale"), traits.get("locale"), view.demographics(profile).get("locale")):
        tag = normalize_locale(value, "")
        if tag:
            return tag
    return fallback


def language(locale: str) -> str:
    """`ja_JP` -> `ja` (the html lang attribute and the UI strings' key)."""
    return locale.replace("-", "_").split("_", 1)[0].lower() or DEFAULT_LOCALE


def ui(locale: str, key: str, **values: str) -> str:
    """One of the layout's words in the recipient's language (English when the language has none)."""
    strings = UI_STRINGS.get(language(locale), UI_STRINGS["en"])
    return strings.get(key, UI_STRINGS["en"][key]).format(**values)


def greeting(name: str | None, locale: str) -> str:
    """`Hi Anna,` / `Hi,` (ja: `Anna 様` / `こんにちは。`): never a placeholder word for a missing name."""
    name = name.strip() if isinstance(name, str) else ""
    return ui(locale, "greeting", name=name) if name else ui(locale, "greeting_anonymous")


def currency_code(value: Any, fallback: str) -> str:
    """An ISO 4217-shaped code in upper case, else `fallback` (a product's junk currency never breaks a price)."""
    if isinstance(value, str) and _CURRENCY_CODE.match(value.strip()):
        return value.strip().upper()
    return fallback


def _finite(value: Any) -> float | None:
    number = view.to_number(value)
    if number is None or not math.isfinite(number) or abs(number) >= MAX_AMOUNT:
        return None
    return number


def format_money(value: Any, currency: str | None = "USD", locale: str = DEFAULT_LOCALE) -> str:
    """`1200, "JPY", "en"` -> `¥1,200`; `89, "EUR", "ja"` -> `€89.00`; `12.5, "EUR", "de"` -> `12,50 €`.
    Non-numbers (None, "abc", booleans, NaN) -> "" (a missing price shows as nothing, not as 0)."""
    number = _finite(value)
    if number is None:
        return ""
    from babel.numbers import format_currency

    code = currency_code(currency, "USD")
    return str(format_currency(number, code, locale=normalize_locale(locale)))


def format_number(value: Any, locale: str = DEFAULT_LOCALE) -> str:
    """`1234.5` -> `1,234.5` (en) / `1.234,5` (de); non-numbers -> ""."""
    number = _finite(value)
    if number is None:
        return ""
    from babel.numbers import format_decimal

    return str(format_decimal(number, locale=normalize_locale(locale)))


def format_date(value: Any, locale: str = DEFAULT_LOCALE, style: str = "medium") -> str:
    """An ISO date or time (or a date/datetime) -> `Mar 5, 2026` (en) / `2026/03/05` (ja); anything else -> ""."""
    when: date | None = None
    if isinstance(value, datetime | date):
        when = value
    elif isinstance(value, str) and value.strip():
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return ""
    if when is None:
        return ""
    from babel.dates import format_date as babel_format_date

    day = when.date() if isinstance(when, datetime) else when
    fmt = style if style in ("short", "medium", "long", "full") else "medium"
    return str(babel_format_date(day, format=fmt, locale=normalize_locale(locale)))


def format_totals(totals: list[Mapping[str, Any]], locale: str = DEFAULT_LOCALE) -> str:
    """Per-currency totals as one string: `€108.00` or, for a cart in two currencies, `€89.00 + ¥1,200` (amounts in
    different currencies are never added up)."""
    parts = [format_money(t.get("amount"), str(t.get("currency") or ""), locale) for t in totals]
    return " + ".join(p for p in parts if p)
