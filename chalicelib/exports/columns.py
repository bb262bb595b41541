"""The segment export's CSV: one row per member, the documented column set, read tolerantly from the profile body.

Columns (README "Segment export"): who the person is and how to reach them, and the traits a list is usually
exported for. Consent is a column, not a filter: the file is for the operator, who decides what a list is used for.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any

from chalicelib.profiles import view

COLUMNS: tuple[str, ...] = (
    "profile_id",
    "user_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "country",
    "locale",
    "timezone",
    "stage",
    "email_consent",
    "sms_consent",
    "orders",
    "revenue",
    "last_order_at",
    "rfm_group",
    "clv_12m",
    "entered_at",
)
# A cell a spreadsheet would run as a formula (=, +, -, @, tab, CR at the start) is prefixed with a quote (OWASP "CSV
# injection"), unless it is a plain number or phone number such as "+33 6 12 34 56 78" or "-3.5".
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?[0-9][0-9 ().-]*$")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = repr(round(value, 2)) if value != int(value) else str(int(value))
    else:
        text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def _first(*values: Any) -> Any:
    return next((v for v in values if isinstance(v, str) and v.strip()), None)


def member_row(document: Mapping[str, Any], entered_at: str | None) -> list[str]:
    """One member's cells in `COLUMNS` order, from the stored profile body (`StoredProfile.document()`)."""
    traits, demo, computed = view.traits(document), view.demographics(document), view.computed(document)
    rfm: Mapping[str, Any] = document.get("rfm") or {}
    predictions: Mapping[str, Any] = document.get("predictions") or {}
    rfm, predictions = (
        (rfm if isinstance(rfm, Mapping) else {}),
        (predictions if isinstance(predictions, Mapping) else {}),
    )
    values = {
        "profile_id": view.profile_id(document),
        "user_id": document.get("user_id"),
        "email": view.email_address(document),
        "phone": view.phone_number(document),
        "first_name": _first(demo.get("first_name"), traits.get("first_name"), traits.get("firstName")),
        "last_name": _first(demo.get("last_name"), traits.get("last_name"), traits.get("lastName")),
        "country": demo.get("country"),
        "locale": demo.get("locale"),
        "timezone": demo.get("timezone"),
        "stage": document.get("stage"),
        "email_consent": view.consent_status(document, "email"),
        "sms_consent": view.consent_status(document, "sms"),
        "orders": computed.get("orders"),
        "revenue": view.to_number(computed.get("revenue")),
        "last_order_at": computed.get("last_order_at"),
        "rfm_group": rfm.get("group"),
        "clv_12m": view.to_number(predictions.get("clv_12m")),
        "entered_at": entered_at,
    }
    return [_cell(values[name]) for name in COLUMNS]


def encode_rows(rows: list[list[str]]) -> bytes:
    """CSV (RFC 4180, CRLF line ends, quoted where needed) as UTF-8."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def header() -> bytes:
    # A UTF-8 byte order mark: Excel opens the file as UTF-8 (names with accents) instead of the locale's code page.
    return b"\xef\xbb\xbf" + encode_rows([list(COLUMNS)])
