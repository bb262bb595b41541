"""SES feedback over SNS: real-shaped notifications, topic and shape validation, SNS signature building blocks."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.engagement.ses_feedback import (
    FeedbackError,
    canonical_string,
    is_sns_url,
    parse_feedback,
    signing_cert_url,
    verify_sns_signature,
)

EVENTS = Path(__file__).resolve().parents[3] / "events" / "ses"
TOPIC = "arn:aws:sns:us-east-1:123456789012:one2one-ses-feedback"
OUR_ID = "m3f9a1c2b7d4e8f60a1b2c3d4"
SES_ID = "0100019a1b2c3d4e-5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c-000000"


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


def with_message(envelope: dict[str, Any], change) -> dict[str, Any]:
    """A copy of `envelope` whose SES event was passed through `change(event)`."""
    event = json.loads(envelope["Message"])
    change(event)
    return {**envelope, "Message": json.dumps(event)}


# ------------------------------------------------------------------------------------------------ the sample events


def test_permanent_bounce_suppresses_the_recipient() -> None:
    feedback = parse_feedback(load("bounce_permanent"), TOPIC)
    assert feedback.kind == "bounce"
    assert feedback.permanent and feedback.suppress
    assert feedback.recipients == ("hanako@example.jp",)
    assert feedback.ses_message_id == SES_ID and feedback.message_id == OUR_ID
    assert feedback.at == datetime(2026, 5, 1, 9, 0, 1, 842000, tzinfo=UTC)
    assert feedback.detail["bounceSubType"] == "General"
    assert feedback.detail["diagnostics"]["hanako@example.jp"]["status"] == "5.1.1"
    assert feedback.tags["scenario"] == "cart_abandonment" and feedback.tags["variant"] == "b"
    assert feedback.notification_id == "5d1e0c3a-7f0b-5c2e-9a41-000000000001"


def test_transient_bounce_does_not_suppress() -> None:
    feedback = parse_feedback(load("bounce_transient"), TOPIC)
    assert feedback.kind == "bounce" and not feedback.permanent and not feedback.suppress
    assert feedback.detail["bounceSubType"] == "MailboxFull"


def test_complaint_suppresses_but_not_spam_feedback_does_not() -> None:
    complaint = load("complaint")
    feedback = parse_feedback(complaint, TOPIC)
    assert feedback.kind == "complaint" and feedback.suppress and not feedback.permanent
    assert feedback.detail["complaintFeedbackType"] == "abuse"

    def not_spam(event: dict[str, Any]) -> None:
        event["complaint"]["complaintFeedbackType"] = "not-spam"

    assert not parse_feedback(with_message(complaint, not_spam), TOPIC).suppress


@pytest.mark.parametrize(
    ("name", "kind", "detail_key"),
    [
        ("delivery", "delivery", "smtpResponse"),
        ("reject", "reject", "reason"),
        ("delivery_delay", "delay", "delayType"),
        ("open", "open", "userAgent"),
        ("click", "click", "link"),
    ],
)
def test_other_events_are_typed_and_never_suppress(name: str, kind: str, detail_key: str) -> None:
    feedback = parse_feedback(load(name), TOPIC)
    assert feedback.kind == kind
    assert not feedback.suppress and not feedback.permanent
    assert feedback.message_id == OUR_ID
    assert feedback.recipients == ("hanako@example.jp",)
    assert detail_key in feedback.detail


def test_event_without_its_own_timestamp_uses_the_send_time() -> None:
    assert parse_feedback(load("reject"), TOPIC).at == datetime(2026, 5, 1, 9, 0, 0, 120000, tzinfo=UTC)


def test_older_notification_format_finds_our_id_in_the_header() -> None:
    # GIVEN an identity notification (notificationType, no tags)  THEN our id comes from X-One2One-Message-Id
    feedback = parse_feedback(load("notification_bounce_permanent"), TOPIC)
    assert feedback.kind == "bounce" and feedback.suppress
    assert feedback.tags == {} and feedback.message_id == OUR_ID


def test_mail_not_sent_by_us_has_no_message_id() -> None:
    def foreign(event: dict[str, Any]) -> None:
        event["mail"]["tags"].pop("message_id")
        event["mail"]["headers"] = []

    assert parse_feedback(with_message(load("delivery"), foreign), TOPIC).message_id is None


def test_lambda_sns_record_is_accepted() -> None:
    # GIVEN the record Lambda passes for an SNS subscription (Url spelling, Subject null)
    envelope = load("delivery")
    sns = {
        **{k: v for k, v in envelope.items() if k not in ("SigningCertURL", "UnsubscribeURL")},
        "SigningCertUrl": envelope["SigningCertURL"],
        "UnsubscribeUrl": envelope["UnsubscribeURL"],
        "Subject": None,
        "MessageAttributes": {},
    }
    record = {"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": TOPIC + ":x", "Sns": sns}
    assert parse_feedback(record, [TOPIC]).kind == "delivery"
    assert parse_feedback(json.dumps(record).encode(), [TOPIC]).kind == "delivery"
    assert signing_cert_url(record) == envelope["SigningCertURL"]


def test_subscription_confirmation_carries_the_subscribe_url() -> None:
    feedback = parse_feedback(load("subscription_confirmation"), TOPIC)
    assert feedback.kind == "subscription"
    assert feedback.subscribe_url is not None and feedback.subscribe_url.startswith("https://sns.us-east-1.amazonaws")


def test_subscription_confirmation_pointing_elsewhere_is_refused() -> None:
    # A forged confirmation must not make us GET an attacker's (or an internal) URL.
    envelope = {**load("subscription_confirmation"), "SubscribeURL": "https://169.254.169.254/latest/meta-data/"}
    with pytest.raises(FeedbackError) as err:
        parse_feedback(envelope, TOPIC)
    assert err.value.field == "SubscribeURL"


def test_ses_subscription_event_is_a_preference_change() -> None:
    def preferences(event: dict[str, Any]) -> None:
        event.pop("bounce")
        event["eventType"] = "Subscription"
        event["subscription"] = {
            "contactList": "news",
            "timestamp": "2026-05-02T00:00:00.000Z",
            "source": "UnsubscribeHeader",
            "newTopicPreferences": {"unsubscribeAll": True},
            "oldTopicPreferences": {"unsubscribeAll": False},
        }

    feedback = parse_feedback(with_message(load("bounce_permanent"), preferences), TOPIC)
    assert feedback.kind == "preferences" and feedback.detail["contactList"] == "news"


# ------------------------------------------------------------------------------------------------ rejection


def test_topic_not_allowed_is_refused() -> None:
    with pytest.raises(FeedbackError) as err:
        parse_feedback(load("bounce_permanent"), "arn:aws:sns:us-east-1:999999999999:someone-else")
    assert err.value.field == "TopicArn"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e.pop("mail"), "mail"),
        (lambda e: e["mail"].pop("messageId"), "mail.messageId"),
        (lambda e: e.update(eventType="Teleport"), "eventType"),
        (lambda e: e["bounce"].update(bouncedRecipients=[]), "bounce.bouncedRecipients"),
        (
            lambda e: e["bounce"]["bouncedRecipients"][0].update(emailAddress=42),
            "bounce.bouncedRecipients.emailAddress",
        ),
        (lambda e: e["bounce"].update(timestamp="yesterday"), "bounce.timestamp"),
        (lambda e: e.update(bounce="oops"), "bounce"),
        (lambda e: e["mail"].update(tags=["x"]), "mail.tags"),
    ],
)
def test_malformed_ses_event_names_the_field(change, field: str) -> None:
    with pytest.raises(FeedbackError) as err:
        parse_feedback(with_message(load("bounce_permanent"), change), TOPIC)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("envelope", "field"),
    [
        ("not json", "body"),
        ([1, 2], "body"),
        ({"Type": "Whatever", "TopicArn": TOPIC}, "Type"),
        ({"Type": "Notification", "TopicArn": TOPIC, "Timestamp": "2026-05-01T00:00:00Z"}, "MessageId"),
        ({"Type": "Notification", "TopicArn": TOPIC, "MessageId": "x", "Message": "{nope"}, "Message"),
        ({"Type": "Notification", "TopicArn": TOPIC, "MessageId": "x", "Message": "[1]"}, "Message"),
        ({"Type": "Notification", "TopicArn": TOPIC, "MessageId": "x", "Message": {"a": 1}}, "Message"),
    ],
)
def test_malformed_envelope_names_the_field(envelope, field: str) -> None:
    with pytest.raises(FeedbackError) as err:
        parse_feedback(envelope, TOPIC)
    assert err.value.field == field


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
event_names = st.sampled_from(["Bounce", "Complaint", "Delivery", "DeliveryDelay", "Open", "Click", "Reject", "Send"])


@given(event_names, json_values, json_values)
def test_arbitrary_event_bodies_raise_only_feedback_error(name: str, body, mail) -> None:
    # GIVEN a known event type with arbitrary content  THEN a Feedback or a FeedbackError, never another exception
    event = {"eventType": name, "mail": mail, name[0].lower() + name[1:]: body}
    envelope = {"Type": "Notification", "TopicArn": TOPIC, "MessageId": "x", "Message": json.dumps(event)}
    with contextlib.suppress(FeedbackError):
        parse_feedback(envelope, TOPIC)


# ------------------------------------------------------------------------------------------------ SNS signatures


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc123.pem", True),
        ("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", False),
        ("https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-abc.pem", False),
        ("https://evil.example/sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", False),
        ("https://sns.us-east-1.amazonaws.com@evil.example/SimpleNotificationService-abc.pem", False),
        ("https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", False),
        ("https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-abc.pem", False),
        ("https://sns.us-east-1.amazonaws.com/evil.pem", False),
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem?x=1", False),
        ("https://s3.amazonaws.com/SimpleNotificationService-abc.pem", False),
    ],
)
def test_signing_cert_url_must_be_an_sns_certificate(url: str, ok: bool) -> None:
    envelope = {**load("delivery"), "SigningCertURL": url}
    if ok:
        assert signing_cert_url(envelope) == url
    else:
        with pytest.raises(FeedbackError):
            signing_cert_url(envelope)


def test_is_sns_url_rejects_garbage() -> None:
    assert not is_sns_url("https://[::1")  # unparseable
    assert not is_sns_url("")


def test_canonical_string_of_a_notification_follows_the_sns_field_order() -> None:
    envelope = {
        "Type": "Notification",
        "MessageId": "id-1",
        "TopicArn": TOPIC,
        "Subject": "Hi",
        "Message": 'line 1\nline 2 "quoted"',
        "Timestamp": "2026-05-01T00:00:00.000Z",
        "SignatureVersion": "1",
    }
    expected = (
        'Message\nline 1\nline 2 "quoted"\nMessageId\nid-1\nSubject\nHi\n'
        f"Timestamp\n2026-05-01T00:00:00.000Z\nTopicArn\n{TOPIC}\nType\nNotification\n"
    )
    assert canonical_string(envelope) == expected.encode()
    without_subject = {k: v for k, v in envelope.items() if k != "Subject"}
    assert b"Subject" not in canonical_string(without_subject)


def test_canonical_string_of_a_confirmation_includes_token_and_subscribe_url() -> None:
    envelope = load("subscription_confirmation")
    text = canonical_string(envelope).decode()
    names = ["MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    assert text.startswith(f"Message\n{envelope['Message']}\n")
    positions = [text.index(f"\n{name}\n{envelope[name]}\n") for name in names]
    assert positions == sorted(positions)
    assert text.endswith("Type\nSubscriptionConfirmation\n")


@pytest.fixture(scope="module")
def signer() -> tuple[Any, bytes]:
    """A throwaway RSA key and self-signed certificate standing in for SNS's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def sign(envelope: dict[str, Any], key: Any, version: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    envelope = {**envelope, "SignatureVersion": version}
    signature = key.sign(canonical_string(envelope), padding.PKCS1v15(), algorithm)
    return {**envelope, "Signature": base64.b64encode(signature).decode()}


@pytest.mark.parametrize("version", ["1", "2"])
def test_genuine_signature_verifies_and_tampering_fails(signer, version: str) -> None:
    key, pem = signer
    signed = sign(load("bounce_permanent"), key, version)
    verify_sns_signature(signed, pem)  # GIVEN a genuine message THEN no error
    tampered = {**signed, "Message": signed["Message"].replace("Permanent", "Transient")}
    with pytest.raises(FeedbackError) as err:
        verify_sns_signature(tampered, pem)
    assert err.value.field == "Signature"


def test_signature_checks_reject_bad_inputs(signer) -> None:
    key, pem = signer
    signed = sign(load("subscription_confirmation"), key, "2")
    verify_sns_signature(signed, pem)
    for envelope, field in [
        ({**signed, "SignatureVersion": "3"}, "SignatureVersion"),
        ({**signed, "Signature": "***"}, "Signature"),
        ({**signed, "Token": "other"}, "Signature"),
    ]:
        with pytest.raises(FeedbackError) as err:
            verify_sns_signature(envelope, pem)
        assert err.value.field == field
    with pytest.raises(FeedbackError) as err:
        verify_sns_signature(signed, b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    assert err.value.field == "SigningCert"
