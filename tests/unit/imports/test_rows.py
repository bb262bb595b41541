"""Rows into messages: identities, traits, consent only where the file proves it, orders, events, bad rows named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.imports.rows import FileError, RowContext, RowError, convert, parse_header, parse_row

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


def ctx(kind: str, header: list[str] | None = None, fmt: str = "csv") -> RowContext:
    return RowContext(kind, fmt, "ab" * 32, AS_OF, header or [])  # type: ignore[arg-type]


def people(line: bytes, header: bytes = b"user_id,email,email_consent,email_consent_source,email_consent_at"):
    context = ctx("people", parse_header(header, "people"))
    return convert(parse_row(line, context), 2, context)


def test_a_proven_consent_grant_keeps_its_source_and_time() -> None:
    converted = people(b"u1,a@example.com,yes,pos-terminal,2024-02-03T04:05:06Z")
    identify, consent = converted.messages
    assert identify["userId"] == "u1" and identify["traits"]["email"] == "a@example.com"
    assert consent["event"] == "Email Subscribed" and consent["timestamp"] == "2024-02-03T04:05:06.000Z"
    assert consent["properties"]["source"] == "pos-terminal"
    assert consent["messageId"] == "imp-" + "ab" * 10 + "-2-consent-email"


@pytest.mark.parametrize(
    "row", [b"u1,a@example.com,yes,,2024-02-03", b"u1,a@example.com,yes,shop,", b"u1,a@example.com,yes,shop,2027-01-01"]
)
def test_a_grant_without_source_or_past_time_is_not_a_grant(row: bytes) -> None:
    converted = people(row)
    assert [m["type"] for m in converted.messages] == ["identify"] and converted.notices == ["consent_unproven"]


def test_a_withdrawal_needs_no_proof() -> None:
    consent = people(b"u1,a@example.com,no,,").messages[1]
    assert consent["event"] == "Email Unsubscribed" and consent["timestamp"] == "2026-01-01T00:00:00.000Z"


def test_email_only_people_get_one_stable_anonymous_id() -> None:
    one = people(b",A@Example.com,,,").messages[0]
    two = people(b",a@example.com,,,").messages[0]
    assert one["anonymousId"] == two["anonymousId"] and "userId" not in one


def test_headers_that_cannot_be_imported_are_refused_naming_the_columns() -> None:
    with pytest.raises(FileError, match="user_id, email or phone"):
        parse_header(b"name,plan", "people")
    with pytest.raises(FileError, match="revenue"):
        parse_header(b"order_id,user_id,ordered_at", "orders")
    with pytest.raises(FileError, match="twice"):
        parse_header(b"email,Email", "people")
    with pytest.raises(FileError, match="UTF-16"):
        parse_header("email".encode("utf-16"), "people")
    assert parse_header(b"\xef\xbb\xbfUser ID,E-mail,traits.Plan", "people") == ["user_id", "email", "trait:Plan"]


def test_orders_become_order_completed_with_lines_store_and_currency() -> None:
    context = ctx("orders", parse_header(b"order_id,email,ordered_at,revenue,currency,store,lines", "orders"))
    row = b'o1,b@example.com,2020-01-02,19.90,EUR,lyon,"[{""sku"": ""S"", ""quantity"": 1, ""price"": 19.9}]"'
    [message] = convert(parse_row(row, context), 7, context).messages
    assert message["event"] == "Order Completed" and message["timestamp"] == "2020-01-02T00:00:00.000Z"
    assert message["properties"]["products"] == [{"sku": "S", "quantity": 1, "price": 19.9, "product_id": "S"}]
    assert message["properties"]["store"] == "lyon" and message["properties"]["revenue"] == 19.9


@pytest.mark.parametrize(
    ("row", "code"),
    [
        (b"o1,b@example.com,soon,1,EUR,s,", "invalid_time"),
        (b"o1,b@example.com,2020-01-01,ten,EUR,s,", "invalid_number"),
        (b"o1,b@example.com,2020-01-01,1,EUR,s,[", "invalid_lines"),
        (b"o1,b@example.com,2020-01-01", "wrong_column_count"),
        (b"o1,b@example.com,2020-01-01,1,EUR,s,\xff", "wrong_encoding"),
    ],
)
def test_bad_order_rows_are_named(row: bytes, code: str) -> None:
    context = ctx("orders", parse_header(b"order_id,email,ordered_at,revenue,currency,store,lines", "orders"))
    with pytest.raises(RowError) as error:
        convert(parse_row(row, context), 2, context)
    assert error.value.code == code


def test_a_json_line_of_another_kind_is_a_mixed_row() -> None:
    context = ctx("people", fmt="jsonl")
    with pytest.raises(RowError) as error:
        convert(parse_row(b'{"order_id": "o", "user_id": "u"}', context), 3, context)
    assert error.value.code == "mixed_row_type"


def test_raw_events_keep_their_own_message_id_and_need_a_time() -> None:
    context = ctx("events", fmt="jsonl")
    line = b'{"type": "track", "event": "Store Visit", "userId": "u", "messageId": "m-1", "timestamp": "2021-01-01"}'
    assert convert(parse_row(line, context), 1, context).messages[0]["messageId"] == "m-1"
    with pytest.raises(RowError):
        convert(parse_row(b'{"event": "X", "userId": "u"}', context), 1, context)
