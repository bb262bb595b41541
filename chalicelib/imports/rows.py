"""Rows of an import file into tracking messages: people, offline orders and raw events, from CSV or JSON lines (pure).

Every message gets a deterministic id from the file's content hash and the row's line (`message_id`), so importing
the same file again, or a chunk delivered twice, stores the same events under the same keys: nothing folds twice.

Consent is imported as the file proves it: a grant (`email_consent=yes`) counts only with its `*_consent_source` and a
valid `*_consent_at` in the past, and then keeps that source and time; without them the row is imported, the grant is
not (counted as `consent_unproven` in the report). A withdrawal (`no`) is always applied: it can only narrow what we
may send; without a time it takes the import's time.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Kind = Literal["people", "orders", "events"]
Format = Literal["csv", "jsonl"]
KINDS: tuple[Kind, ...] = ("people", "orders", "events")
IDENTITY_COLUMNS = ("user_id", "email", "phone", "anonymous_id")
CONSENT_CHANNELS = ("email", "sms")
_YES = {"true", "yes", "y", "1", "subscribed", "opted_in", "opt_in", "granted"}
_NO = {"false", "no", "n", "0", "unsubscribed", "opted_out", "opt_out", "denied", "revoked"}
_CONSENT_EVENTS = {
    ("email", True): "Email Subscribed",
    ("email", False): "Email Unsubscribed",
    ("sms", True): "SMS Subscribed",
    ("sms", False): "SMS Unsubscribed",
}
ORDER_TIME_COLUMNS = ("ordered_at", "timestamp", "time", "date", "created_at")
_ALIASES = {
    "userid": "user_id",
    "anonymousid": "anonymous_id",
    "messageid": "message_id",
    "orderid": "order_id",
    "phone_number": "phone",
    "e_mail": "email",
    "email_address": "email",
    "total": "revenue",
}
MAX_COLUMNS = 500


class RowError(ValueError):
    """A row that cannot be imported: `code` and a message naming the column."""

    def __init__(self, code: str, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.column = code, message, column

    def to_dict(self) -> dict[str, Any]:
        out = {"error": self.code, "message": self.message}
        if self.column:
            out["field"] = self.column
        return out


class FileError(RowError):
    """The whole file cannot be imported (wrong header, wrong encoding): nothing of it is."""


@dataclass
class RowContext:
    """What converting a row needs besides the row: the import, its header, and when it was made."""

    kind: Kind
    fmt: Format
    content_hash: str
    as_of: datetime  # rows without a time take this (the import's start): deterministic per import
    header: list[str] = field(default_factory=list)
    source: str = "import"

    def message_id(self, line: int, part: str) -> str:
        return f"imp-{self.content_hash[:20]}-{line}-{part}"


@dataclass
class Converted:
    messages: list[dict[str, Any]]
    notices: list[str] = field(default_factory=list)


def column_name(raw: str) -> str:
    name = raw.strip().strip("\ufeff").lower().replace("-", "_").replace(" ", "_")
    for prefix in ("traits.", "trait."):
        if name.startswith(prefix):
            return "trait:" + raw.strip()[len(prefix) :]
    return _ALIASES.get(name, name)


def decode(data: bytes, *, first: bool = False) -> str:
    """A record's bytes as text: UTF-8 (a UTF-8 BOM at the start of the file is dropped). Raises RowError."""
    if first and data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileError("wrong_encoding", "the file is UTF-16; save it as UTF-8 (with or without a BOM)")
    if first and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RowError(
            "wrong_encoding", f"not valid UTF-8 at byte {exc.start} of the row; files must be UTF-8"
        ) from None


def parse_header(data: bytes, kind: Kind) -> list[str]:
    """The CSV header (line 1) as column names; FileError when `kind` cannot be imported from these columns."""
    text = decode(data, first=True)
    try:
        [raw] = list(csv.reader([text]))
    except (csv.Error, ValueError):
        raise FileError("invalid_header", "line 1 is not a CSV header") from None
    columns = [column_name(c) for c in raw]
    if not raw or len(columns) > MAX_COLUMNS or any(not c for c in columns):
        raise FileError("invalid_header", f"line 1 must name every column (at most {MAX_COLUMNS})")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise FileError("invalid_header", f"columns named twice: {', '.join(duplicates)}")
    check_columns(set(columns), kind)
    return columns


def check_columns(columns: set[str], kind: Kind) -> None:
    if kind == "people" and not columns & {"user_id", "email", "phone"}:
        raise FileError("invalid_header", "a people file needs a user_id, email or phone column", "user_id")
    if kind == "orders":
        missing = [c for c in ("order_id", "revenue") if c not in columns]
        if not columns & {"user_id", "email"}:
            missing.append("user_id or email")
        if not columns & set(ORDER_TIME_COLUMNS):
            missing.append("ordered_at")
        if missing:
            raise FileError("invalid_header", f"an orders file needs the columns: {', '.join(missing)}", missing[0])
    if kind == "events" and "event" not in columns and "type" not in columns:
        raise FileError("invalid_header", "an events file needs an event (or type) column", "event")


def parse_row(data: bytes, ctx: RowContext) -> dict[str, Any]:
    """One record as a dict of column -> value. Raises RowError."""
    text = decode(data)
    if ctx.fmt == "jsonl":
        try:
            row = json.loads(text)
        except (ValueError, RecursionError):
            raise RowError("invalid_json", "the line is not one JSON object") from None
        if not isinstance(row, dict):
            raise RowError("invalid_json", "the line is not one JSON object")
        if ctx.kind == "events":
            return row  # Segment-spec messages as they are
        flat: dict[str, Any] = {}
        for key, value in row.items():
            if key == "traits" and isinstance(value, dict):
                flat.update({"trait:" + str(k): v for k, v in value.items()})
            elif key == "consent" and isinstance(value, dict):
                for channel, choice in value.items():
                    choice = choice if isinstance(choice, dict) else {"status": choice}
                    flat[f"{channel}_consent"] = choice.get("status", choice.get("granted"))
                    flat[f"{channel}_consent_source"] = choice.get("source")
                    flat[f"{channel}_consent_at"] = choice.get("at")
            else:
                flat[column_name(str(key))] = value
        return flat
    try:
        [values] = list(csv.reader([text], strict=True))
    except (csv.Error, ValueError) as exc:
        raise RowError("invalid_csv", f"the row is not valid CSV: {exc}") from None
    if len(values) != len(ctx.header):
        raise RowError(
            "wrong_column_count", f"expected {len(ctx.header)} columns (as in the header), found {len(values)}"
        )
    return {name: value for name, value in zip(ctx.header, values, strict=True) if value != ""}


def convert(row: dict[str, Any], line: int, ctx: RowContext) -> Converted:
    """A parsed row into tracking messages (not yet validated: the ingest use case does that). Raises RowError."""
    return _CONVERTERS[ctx.kind](row, line, ctx)


def parse_time(value: Any, column: str) -> datetime:
    """ISO-8601 (a date alone is midnight UTC, no offset means UTC) or epoch seconds. Raises RowError."""
    if isinstance(value, bool) or value in (None, ""):
        raise RowError("invalid_time", f"{column} is empty", column)
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.strip().replace(".", "", 1).isdigit()):
            moment = datetime.fromtimestamp(float(value), UTC)
        else:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise RowError(
            "invalid_time", f"{column} is not an ISO-8601 time or epoch seconds: {str(value)[:40]!r}", column
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(row: dict[str, Any], column: str) -> str | None:
    value = row.get(column)
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _mixed(row: dict[str, Any], ctx: RowContext, markers: tuple[str, ...], looks_like: str) -> None:
    if any(m in row for m in markers):
        raise RowError("mixed_row_type", f"this row looks like {looks_like}; the file is a {ctx.kind} import")


def identity(row: dict[str, Any]) -> dict[str, Any]:
    """userId, or an anonymousId derived from the address (the same address in any file is the same person)."""
    ids: dict[str, Any] = {}
    user_id, anonymous_id = _text(row, "user_id"), _text(row, "anonymous_id")
    email, phone = _text(row, "email"), _text(row, "phone")
    if user_id:
        ids["userId"] = user_id
    if anonymous_id:
        ids["anonymousId"] = anonymous_id
    elif not user_id and (email or phone):
        basis = ("email:" + email.lower()) if email else ("phone:" + (phone or ""))
        ids["anonymousId"] = "imp-" + hashlib.sha256(basis.encode()).hexdigest()[:32]
    if not ids:
        raise RowError("missing_identity", "the row has no user_id, email, phone or anonymous_id", "user_id")
    return ids


def _people(row: dict[str, Any], line: int, ctx: RowContext) -> Converted:
    _mixed(row, ctx, ("order_id", "lines", "event"), "an order or an event")
    ids = identity(row)
    at = parse_time(row["updated_at"], "updated_at") if _text(row, "updated_at") else ctx.as_of
    traits: dict[str, Any] = {}
    for column, value in row.items():
        if column.startswith("trait:"):
            traits[column[6:]] = value
        elif (
            column not in IDENTITY_COLUMNS
            and column not in ("updated_at", "timezone", "locale", "kind")
            and not any(column.startswith(f"{c}_consent") for c in CONSENT_CHANNELS)
        ):
            traits[column] = value
    for address in ("email", "phone"):
        if _text(row, address):
            traits[address] = _text(row, address)
    context: dict[str, Any] = {"source": "import"}
    for key in ("timezone", "locale"):
        if _text(row, key):
            context[key] = _text(row, key)
    identify = {
        **ids,
        "type": "identify",
        "messageId": ctx.message_id(line, "identify"),
        "traits": traits,
        "timestamp": iso(at),
        "context": context,
    }
    converted = Converted([identify])
    for channel in CONSENT_CHANNELS:
        _consent(row, channel, ids, line, ctx, converted)
    return converted


def _consent(
    row: dict[str, Any], channel: str, ids: dict[str, Any], line: int, ctx: RowContext, out: Converted
) -> None:
    raw = row.get(f"{channel}_consent")
    if raw in (None, ""):
        return
    word = str(raw).strip().lower()
    if word not in _YES and word not in _NO:
        raise RowError(
            "invalid_consent", f"{channel}_consent must be yes or no, not {word[:20]!r}", f"{channel}_consent"
        )
    granted = word in _YES
    source = _text(row, f"{channel}_consent_source")
    at_text = _text(row, f"{channel}_consent_at")
    at = parse_time(at_text, f"{channel}_consent_at") if at_text else None
    if granted and (not source or at is None or at > ctx.as_of):
        out.notices.append("consent_unproven")  # a grant we cannot show the proof of is not a grant
        return
    message = {
        **ids,
        "type": "track",
        "event": _CONSENT_EVENTS[(channel, granted)],
        "messageId": ctx.message_id(line, f"consent-{channel}"),
        "timestamp": iso(at or ctx.as_of),
        "properties": {"channel": channel, "source": (source or ctx.source)[:200], "imported": True},
    }
    out.messages.append(message)


def _number(value: Any, column: str) -> float:
    try:
        number = float(str(value).strip()) if not isinstance(value, bool) else float("nan")
    except ValueError:
        number = float("nan")
    if number != number or number in (float("inf"), float("-inf")):
        raise RowError("invalid_number", f"{column} is not a number: {str(value)[:40]!r}", column)
    return number


def _lines(value: Any) -> list[dict[str, Any]]:
    if value in (None, ""):
        return []
    items = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except ValueError:
            raise RowError(
                "invalid_lines", 'lines must be a JSON array like [{"sku": "A1", "quantity": 2, "price": 9.5}]', "lines"
            ) from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise RowError("invalid_lines", "lines must be an array of objects", "lines")
    products = []
    for item in items:
        product = dict(item)
        if "sku" in product and "product_id" not in product:
            product["product_id"] = product["sku"]
        products.append(product)
    return products


def _orders(row: dict[str, Any], line: int, ctx: RowContext) -> Converted:
    _mixed(row, ctx, ("event", "email_consent", "sms_consent"), "a person or an event")
    order_id = _text(row, "order_id")
    if not order_id:
        raise RowError("missing_field", "order_id is empty", "order_id")
    time_column = next((c for c in ORDER_TIME_COLUMNS if c in row), "ordered_at")
    at = parse_time(row.get(time_column), time_column)
    if "revenue" not in row:
        raise RowError("missing_field", "revenue is empty", "revenue")
    ids = identity({k: v for k, v in row.items() if k in IDENTITY_COLUMNS})
    properties: dict[str, Any] = {
        "order_id": order_id,
        "revenue": _number(row["revenue"], "revenue"),
        "products": _lines(row.get("lines")),
        "imported": True,
    }
    for column in ("currency", "store", "channel", "discount", "tax", "shipping", "coupon"):
        if _text(row, column):
            properties[column] = _text(row, column)
    message = {
        **ids,
        "type": "track",
        "event": "Order Completed",
        "messageId": ctx.message_id(line, "order"),
        "timestamp": iso(at),
        "properties": properties,
    }
    if _text(row, "email"):
        message["context"] = {"traits": {"email": _text(row, "email")}}
    return Converted([message])


def _events(row: dict[str, Any], line: int, ctx: RowContext) -> Converted:
    if ctx.fmt == "csv":
        message: dict[str, Any] = {"type": _text(row, "type") or "track"}
        for column, key in (
            ("event", "event"),
            ("user_id", "userId"),
            ("anonymous_id", "anonymousId"),
            ("message_id", "messageId"),
            ("name", "name"),
        ):
            if _text(row, column):
                message[key] = _text(row, column)
        for column in ("properties", "traits", "context"):
            if _text(row, column):
                try:
                    message[column] = json.loads(str(row[column]))
                except ValueError:
                    raise RowError("invalid_json", f"{column} must be a JSON object", column) from None
        if "timestamp" in row:
            message["timestamp"] = iso(parse_time(row["timestamp"], "timestamp"))
        if _text(row, "email"):
            message.setdefault("traits" if message["type"] == "identify" else "context", {})
            target = message["traits"] if message["type"] == "identify" else message["context"].setdefault("traits", {})
            target["email"] = _text(row, "email")
    else:
        message = dict(row)
        message.setdefault("type", "track")
        _mixed(
            {k: v for k, v in row.items() if k != "properties"},
            ctx,
            ("order_id", "email_consent"),
            "an order or a person",
        )
    if "timestamp" not in message:
        raise RowError("missing_field", "timestamp is required for an imported event", "timestamp")
    message.setdefault("messageId", ctx.message_id(line, "event"))  # the event's own id also dedupes against live ones
    return Converted([message])


_CONVERTERS: dict[Kind, Callable[[dict[str, Any], int, RowContext], Converted]] = {
    "people": _people,
    "orders": _orders,
    "events": _events,
}
