"""Security basics: write keys never stored in plaintext; logs never carry an email, a phone number or an IP."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.shared.observability import PiiFilter, count, mask_text, masking_formatter, observe

PII = ("jane.doe@example.com", "+33 6 12 34 56 78", "203.0.113.77", "2001:db8:85a3::8a2e:370:7334")


def test_write_keys_are_stored_only_as_hashes(aws: dict[str, Any]) -> None:
    # GIVEN a source created with a write key
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name
    from chalicelib.tracking.adapters.dynamodb_sources import DynamoSourceRegistry
    from chalicelib.tracking.sources import hash_write_key

    registry = DynamoSourceRegistry(table_name("StateTable"))
    write_key = "wk_Sup3rSecretPlaintextKey"
    registry.upsert_source("web", write_key, ["https://shop.example"])
    # WHEN everything in the state table is read back
    items = client("dynamodb").scan(TableName=table_name("StateTable"))["Items"]
    stored = json.dumps(items)
    # THEN only the hash is there, and the key still authenticates
    assert write_key not in stored and write_key.lower() not in stored.lower()
    assert hash_write_key(write_key) in stored
    assert registry.by_write_key(write_key) is not None
    assert registry.by_write_key(write_key + "x") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail Jane.Doe+promo@Example.co.uk now", "mail [email] now"),
        ("from 203.0.113.77, 2001:db8::1 and ::ffff:10.0.0.1", "from [ip], [ip] and [ip]"),
        ("call +33 6 12 34 56 78 or (555) 123-4567 or 0612345678", "call [phone] or [phone] or [phone]"),
    ],
)
def test_mask_text_redacts_personal_data(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "at 2026-11-25 03:28:01,123 took 12.5 ms",
        "message 123e4567-e89b-12d3-a456-426614174000 sequence 4900000000000000000021",
        "profile p_abcd2345efgh batch of 500, version 1.2.3",
    ],
)
def test_mask_text_leaves_times_ids_and_counts_alone(text: str) -> None:
    assert mask_text(text) == text


def test_log_records_are_masked_in_message_args_extra_and_exceptions() -> None:
    # GIVEN a logger with the PII filter and the masking JSON formatter
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(masking_formatter())
    logger = logging.getLogger("one2one-test-masking")
    logger.addFilter(PiiFilter())
    logger.addHandler(handler)
    logger.propagate = False
    # WHEN personal data is logged every way a developer might
    try:
        raise ValueError(f"bad address {PII[0]}")
    except ValueError:
        logger.exception("visitor %s at %s", PII[0], PII[2], extra={"phone": PII[1], "ips": [PII[3]]})
    # THEN none of it is in the output, and the line is still JSON
    out = buffer.getvalue()
    assert not any(value in out for value in PII)
    line = json.loads(out.splitlines()[0])
    assert line["message"] == "visitor [email] at [ip]" and line["phone"] == "[phone]" and line["ips"] == ["[ip]"]


def test_app_logs_carry_the_request_id_and_no_personal_data() -> None:
    # GIVEN the app's logger, as the middleware sets it up for an API Gateway request
    from chalicelib.shared.observability import get_logger

    target = logging.getLogger("one2one")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(get_logger().registered_formatter)  # Powertools' formatter holds the correlation id
    level = target.level
    target.addHandler(handler)
    target.setLevel(logging.INFO)  # other tests may have quietened it
    request = SimpleNamespace(context={"requestId": "req-123"}, lambda_context=None)
    try:
        # WHEN a handler logs personal data during the request
        observe(request, lambda _: target.warning("signup %s from %s", PII[0], PII[2], extra={"tel": PII[1]}))
    finally:
        target.removeHandler(handler)
        target.setLevel(level)
    # THEN the JSON line has the correlation id and nothing personal
    line = json.loads(buffer.getvalue().splitlines()[-1])
    assert line["correlation_id"] == "req-123"
    assert not any(value in json.dumps(line) for value in PII)


def test_metrics_use_the_one2one_namespace_and_known_names(capsys: pytest.CaptureFixture[str]) -> None:
    count("MessagesSkipped", reason="quiet_hours")
    blob = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "one2one"
    assert blob["reason"] == "quiet_hours" and blob["MessagesSkipped"] == [1.0] or blob["MessagesSkipped"] == 1.0
    with pytest.raises(ValueError):
        count("EventsLost")
