"""Property tests: every parser of outside input returns a valid result or raises its documented error, nothing else.

Hypothesis throws arbitrary JSON, text and bytes at the tracking validators, the pixel decoder, identity cleaning,
enrichment and the config loaders. A different exception type here is a 500 in production (or a stuck stream batch).
"""

from __future__ import annotations

import base64
import ipaddress
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.api.pixel import message_from_query
from chalicelib.tracking.enrichment import (
    MAX_FUTURE_SKEW,
    MAX_PAST_AGE,
    anonymize_ip,
    campaign_from_url,
    correct_timestamp,
    referrer_info,
)
from chalicelib.tracking.identity import JUNK_IDS, clean_email, clean_id
from chalicelib.tracking.ingest import consent_messages, decode_pixel_data
from chalicelib.tracking.validation import (
    KNOWN_FIELDS,
    MESSAGE_TYPES,
    TYPE_BY_PATH,
    MessageError,
    ValidMessage,
    apply_shared,
    parse_json_body,
    parse_time,
    split_batch,
    validate_message,
)

settings.register_profile(
    "one2one", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("one2one")

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)
# Values that JSON never produces but a buggy caller might pass: unhashable containers where strings are expected.
field_names = st.sampled_from(sorted(KNOWN_FIELDS)) | st.text(max_size=12)
messages = st.dictionaries(field_names, json_values, max_size=10)
time_strings = st.datetimes(timezones=st.none() | st.just(UTC)).map(datetime.isoformat)
plausible_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(MESSAGE_TYPES)) | json_values},
    optional={
        "anonymousId": st.text(max_size=20) | st.integers() | json_values,
        "userId": st.text(max_size=20) | st.sampled_from(sorted(JUNK_IDS)),
        "event": st.text(max_size=20) | json_values,
        "previousId": st.text(max_size=20),
        "groupId": st.text(max_size=20) | json_values,
        "timestamp": time_strings | json_values,
        "originalTimestamp": time_strings,
        "sentAt": time_strings | st.integers(),
        "properties": json_values,
        "traits": st.dictionaries(st.just("email") | st.text(max_size=5), json_values, max_size=3),
        "context": json_values,
    },
)


def assert_documented_error(exc: MessageError) -> None:
    assert isinstance(exc.code, str) and exc.code
    assert isinstance(exc.message, str) and exc.message
    assert exc.field is None or isinstance(exc.field, str)
    json.dumps(exc.to_dict())  # it goes out as the HTTP body


# --- tracking payloads ----------------------------------------------------------------------------------------------


@given(msg=messages | plausible_messages | json_values, kind=st.sampled_from([None, *TYPE_BY_PATH.values()]))
@example(msg={"type": {}, "userId": "u"}, kind=None)  # found by schemathesis: an unhashable type was a 500
@example(msg={"type": [], "userId": "u"}, kind=None)
def test_validate_message_returns_a_valid_message_or_a_message_error(msg: Any, kind: str | None) -> None:
    # GIVEN any JSON value as a message WHEN it is validated
    try:
        valid = validate_message(msg, kind, None)
    except MessageError as exc:
        # THEN a refusal is a MessageError with a code and a message
        assert_documented_error(exc)
        return
    # THEN an accepted message has a known type and a usable id
    assert isinstance(valid, ValidMessage)
    assert valid.type in MESSAGE_TYPES
    assert valid.anonymous_id or valid.user_id
    for value in (valid.anonymous_id, valid.user_id):
        assert value is None or value == clean_id(value)
    for when in (valid.timestamp, valid.original_timestamp, valid.sent_at):
        assert when is None or when.tzinfo is not None


@given(msg=plausible_messages, index=st.integers(min_value=0, max_value=2499))
def test_batch_errors_name_the_field_with_the_batch_index(msg: Any, index: int) -> None:
    try:
        validate_message(msg, None, index)
    except MessageError as exc:
        assert exc.field is None or exc.field.startswith(f"batch[{index}].")


@given(
    body=st.dictionaries(st.sampled_from(["batch", "sentAt", "context", "integrations", "x"]), json_values)
    | json_values
)
def test_split_batch_returns_messages_and_shared_fields_or_a_message_error(body: Any) -> None:
    try:
        batch, shared = split_batch(body)
    except MessageError as exc:
        assert_documented_error(exc)
        return
    assert isinstance(batch, list) and 1 <= len(batch) <= 2500
    assert set(shared) <= {"sentAt", "context", "integrations"}


@given(
    msg=json_values | messages,
    shared=st.dictionaries(st.sampled_from(["sentAt", "context", "integrations"]), json_values),
)
def test_apply_shared_never_raises_and_a_message_keeps_its_own_values(msg: Any, shared: dict[str, Any]) -> None:
    merged = apply_shared(msg, shared)
    if isinstance(msg, dict):
        for key in ("sentAt",):
            if key in msg:
                assert merged[key] == msg[key]
        for key in ("context", "integrations"):
            if isinstance(msg.get(key), dict) and isinstance(shared.get(key), dict):
                assert all(merged[key][k] == v for k, v in msg[key].items())
    else:
        assert merged is msg


@given(raw=st.binary(max_size=200) | st.text(max_size=200) | st.none(), limit=st.integers(min_value=1, max_value=300))
def test_parse_json_body_returns_json_or_a_message_error(raw: Any, limit: int) -> None:
    try:
        parse_json_body(raw, limit)
    except MessageError as exc:
        assert_documented_error(exc)
        assert exc.code in {"invalid_json", "payload_too_large"}


@given(value=json_values | time_strings | st.integers() | st.floats())
@example(value=1e300)
@example(value="0001-01-01T00:00:00+14:00")
def test_parse_time_returns_an_aware_time_or_a_message_error(value: Any) -> None:
    try:
        parsed = parse_time(value, "timestamp")
    except MessageError as exc:
        assert_documented_error(exc)
        assert exc.field == "timestamp"
        return
    assert parsed is None or parsed.tzinfo is not None


@given(body=json_values | st.fixed_dictionaries({"consent": json_values}, optional={"userId": st.text(max_size=5)}))
@example(body={"userId": "u", "consent": {"email": []}})  # was a 500: an unhashable choice
def test_consent_messages_returns_messages_or_a_message_error(body: Any) -> None:
    try:
        out = consent_messages(body)
    except MessageError as exc:
        assert_documented_error(exc)
        return
    assert out and all(isinstance(m["event"], str) for m in out)


# --- the pixel ------------------------------------------------------------------------------------------------------


@given(data=st.text(max_size=200) | st.none())
def test_decode_pixel_data_returns_json_or_a_message_error(data: str | None) -> None:
    try:
        decode_pixel_data(data)
    except MessageError as exc:
        assert exc.code == "invalid_pixel_data" and exc.field == "data"


@given(value=json_values, urlsafe=st.booleans(), strip_padding=st.booleans())
def test_pixel_data_round_trips_any_json(value: Any, urlsafe: bool, strip_padding: bool) -> None:
    # GIVEN any JSON value base64-encoded as mail clients and trackers do (either alphabet, padding optional)
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    text = encode(json.dumps(value).encode()).decode()
    text = text.rstrip("=") if strip_padding else text
    # THEN it decodes to the same value
    assert decode_pixel_data(text) == value


@given(
    query=st.dictionaries(
        st.sampled_from(["data", "writeKey", "write_key", "anonymousId", "event", "x"]) | st.text(max_size=8),
        st.text(max_size=60),
        max_size=6,
    ),
    kind=st.sampled_from([*TYPE_BY_PATH, "bogus"]),
)
def test_message_from_query_never_raises(query: dict[str, str], kind: str) -> None:
    write_key, message = message_from_query(query, kind)
    assert write_key is None or isinstance(write_key, str) or "data" in query  # a data blob may carry any writeKey
    if isinstance(message, MessageError):
        assert_documented_error(message)


# --- identity -------------------------------------------------------------------------------------------------------


@given(value=json_values | st.sampled_from(sorted(JUNK_IDS)) | st.text())
def test_clean_id_returns_a_usable_id_or_none(value: Any) -> None:
    cleaned = clean_id(value)
    if cleaned is not None:
        assert cleaned == cleaned.strip() and cleaned.lower() not in JUNK_IDS and 0 < len(cleaned) <= 256
        assert clean_id(cleaned) == cleaned  # idempotent


@given(value=json_values | st.emails() | st.text())
def test_clean_email_returns_a_lowercase_address_or_none(value: Any) -> None:
    cleaned = clean_email(value)
    if cleaned is not None:
        assert "@" in cleaned and cleaned == cleaned.lower().strip() and len(cleaned) <= 254
        assert not cleaned.startswith("@") and not cleaned.endswith("@")


# --- enrichment -----------------------------------------------------------------------------------------------------

urls = st.text(max_size=120) | st.builds(
    lambda host, query: f"https://{host}/p?{query}",
    st.sampled_from(["www.google.com", "shop.example", "[::1]", "[bad", "bing.com:99999"]),
    st.text(max_size=60),
)


@given(url=urls | st.none())
@example(url="http://[::1/?utm_source=x")
def test_campaign_from_url_returns_short_strings(url: str | None) -> None:
    campaign = campaign_from_url(url)
    assert set(campaign) <= {"source", "medium", "name", "term", "content"}
    assert all(isinstance(v, str) and 0 < len(v) <= 200 for v in campaign.values())


@given(referrer=urls | st.none(), own_host=st.none() | st.text(max_size=20))
@example(referrer="https://[::1", own_host=None)
@example(referrer="http://bing.com:99999/?q=x", own_host=None)
def test_referrer_info_returns_short_strings(referrer: str | None, own_host: str | None) -> None:
    info = referrer_info(referrer, own_host)
    assert set(info) <= {"referrer_host", "referrer_search_engine", "referrer_search_terms"}
    assert all(isinstance(v, str) for v in info.values())


@given(ip=st.ip_addresses())
def test_anonymize_ip_never_returns_the_full_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    masked = anonymize_ip(str(ip))
    assert masked is not None
    address = ipaddress.ip_address(masked)
    v4 = ip if isinstance(ip, ipaddress.IPv4Address) else ip.ipv4_mapped
    if v4 is not None:
        # THEN the last octet is zeroed: the /24 network, never the host
        assert address == ipaddress.ip_network(f"{v4}/24", strict=False).network_address
        assert int(address) & 0xFF == 0
    else:
        assert address == ipaddress.ip_network(f"{ip}/48", strict=False).network_address
        assert int(address) & ((1 << 80) - 1) == 0


@given(text=st.text(max_size=60) | st.none())
def test_anonymize_ip_of_garbage_is_none_or_a_network_address(text: str | None) -> None:
    masked = anonymize_ip(text)
    if masked is not None:
        assert masked != (text or "").strip() or masked.endswith((".0", "::"))


aware = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))


@given(
    received=st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    timestamp=aware | st.none(),
    original=aware | st.none(),
    sent=aware | st.none(),
)
@example(
    received=datetime(2026, 1, 1, tzinfo=UTC),
    timestamp=None,
    original=datetime(9999, 1, 1, tzinfo=UTC),
    sent=datetime(1, 1, 2, tzinfo=UTC),
)
def test_correct_timestamp_is_always_within_the_trusted_window(
    received: datetime, timestamp: datetime | None, original: datetime | None, sent: datetime | None
) -> None:
    # GIVEN any device clock readings WHEN the time is corrected
    corrected, flags = correct_timestamp(received, timestamp, original, sent)
    # THEN it is never further in the future than the skew allowance nor older than a year
    assert received - MAX_PAST_AGE <= corrected <= received + MAX_FUTURE_SKEW
    assert set(flags) <= {"timestamp_clamped_future", "timestamp_clamped_past"}


@given(offset=st.integers(min_value=-(10**6), max_value=10**6))
def test_correct_timestamp_keeps_plausible_device_times(offset: int) -> None:
    received = datetime(2026, 6, 1, tzinfo=UTC)
    device = received - timedelta(seconds=abs(offset) % 86400)
    corrected, flags = correct_timestamp(received, device, None, None)
    assert corrected == device and flags == []
