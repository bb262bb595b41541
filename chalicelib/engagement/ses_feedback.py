"""SES feedback over SNS: parse and validate notifications into typed `Feedback`, and the pure half of SNS signatures.

Accepted input, as a dict or raw JSON text:
- the SNS HTTP(S) body (`{"Type": "Notification", "Message": "<json>", "SigningCertURL": ...}`),
- a Lambda SNS record (`{"EventSource": "aws:sns", "Sns": {...}}`; Lambda spells `SigningCertUrl`/`UnsubscribeUrl`),
- or the `Sns` object of such a record.

The `Message` is an SES event in either format:
- event publishing (a configuration set's SNS destination): `eventType` Send, Reject, Bounce, Complaint, Delivery,
  DeliveryDelay, Open, Click, Rendering Failure, Subscription; `mail.tags` carries our tags (values are lists);
- identity notifications (older): `notificationType` Bounce, Complaint, Delivery (no tags: our message id then comes
  from the `X-One2One-Message-Id` header, when the sender set it and SES included headers).

Naming: `kind="subscription"` is the SNS SubscriptionConfirmation (and UnsubscribeConfirmation) handshake;
SES's own `Subscription` event (a contact changed topic preferences in an SES contact list) is `kind="preferences"`.

Signatures: a Lambda subscription is authenticated by AWS (only SNS may invoke the function), so verification matters
for an HTTPS endpoint. `signing_cert_url` and `canonical_string` are pure; the adapter fetches the certificate (only
from a URL that passed `signing_cert_url`, cache it per URL) and calls `verify_sns_signature` with the PEM bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from chalicelib.tracking.identity import clean_email

Kind = Literal[
    "delivery",
    "bounce",
    "complaint",
    "reject",
    "delay",
    "open",
    "click",
    "send",
    "rendering_failure",
    "subscription",
    "preferences",
]

# SES event name -> (our kind, the key of the event's own object in the message)
SES_EVENTS: dict[str, tuple[Kind, str]] = {
    "Send": ("send", "send"),
    "Reject": ("reject", "reject"),
    "Bounce": ("bounce", "bounce"),
    "Complaint": ("complaint", "complaint"),
    "Delivery": ("delivery", "delivery"),
    "DeliveryDelay": ("delay", "deliveryDelay"),
    "Open": ("open", "open"),
    "Click": ("click", "click"),
    "Rendering Failure": ("rendering_failure", "failure"),
    "Subscription": ("preferences", "subscription"),
}
SNS_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
MESSAGE_ID_TAG = "message_id"
MESSAGE_ID_HEADER = "X-One2One-Message-Id"
# ARF feedback type "not-spam": the person told the mailbox provider the mail is wanted; never suppress on that.
NOT_SPAM = "not-spam"

_SNS_HOST = re.compile(r"sns\.[a-z0-9-]{3,}\.amazonaws\.com(\.cn)?")
_CERT_PATH = re.compile(r"/SimpleNotificationService-[A-Za-z0-9]+\.pem")
_LAMBDA_SPELLING = {  # Lambda's SNS record spells these keys differently from the HTTP body
    "SigningCertUrl": "SigningCertURL",
    "UnsubscribeUrl": "UnsubscribeURL",
    "SubscribeUrl": "SubscribeURL",
}


class FeedbackError(ValueError):
    """Malformed, unexpected or unauthentic input; `field` names the offending field (`TopicArn`, `mail.messageId`...).

    Handlers log and drop such records (retrying cannot fix them) and answer 400 on the HTTPS endpoint."""

    def __init__(self, field: str, message: str = "") -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if message else f"invalid or missing {field}")


@dataclass(frozen=True)
class Feedback:
    """One SES event (or SNS subscription handshake), typed.

    `notification_id` (the SNS MessageId) is the dedupe key: SNS delivers at least once. `message_id` is ours (tag
    `message_id`, else the `X-One2One-Message-Id` header), None when the mail was not sent by one2one. `suppress` is
    True for a permanent bounce or a complaint (except ARF `not-spam`): add every recipient to the suppression list."""

    kind: Kind
    notification_id: str
    at: datetime
    ses_message_id: str | None = None
    message_id: str | None = None
    recipients: tuple[str, ...] = ()
    permanent: bool = False
    suppress: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    subscribe_url: str | None = None
    topic_arn: str = ""


# --------------------------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------------------------


def sns_envelope(raw: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    """The SNS envelope as a dict with the HTTP spelling of keys, from any accepted input shape."""
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise FeedbackError("body", "not JSON") from None
    if not isinstance(raw, Mapping):
        raise FeedbackError("body", "expected a JSON object")
    envelope: Mapping[str, Any] = raw["Sns"] if isinstance(raw.get("Sns"), Mapping) else raw
    return {_LAMBDA_SPELLING.get(key, key): value for key, value in envelope.items()}


def parse_feedback(
    raw: Mapping[str, Any] | str | bytes,
    allowed_topic_arns: str | Collection[str],
    *,
    message_id_tag: str = MESSAGE_ID_TAG,
    message_id_header: str = MESSAGE_ID_HEADER,
) -> Feedback:
    """Validate an SNS envelope from an allowed topic and parse the SES event inside it.

    Raises FeedbackError(field) for anything malformed, an unknown event type or a topic not in `allowed_topic_arns`.
    Example:
        feedback = parse_feedback(record, settings.feedback_topic_arn)
        if feedback.suppress: suppress(feedback.recipients)
    """
    envelope = sns_envelope(raw)
    sns_type = envelope.get("Type")
    if sns_type not in SNS_TYPES:
        raise FeedbackError("Type", f"unsupported SNS message type {str(sns_type)[:40]!r}")
    allowed = {allowed_topic_arns} if isinstance(allowed_topic_arns, str) else set(allowed_topic_arns)
    topic_arn = envelope.get("TopicArn")
    if not isinstance(topic_arn, str) or topic_arn not in allowed:
        raise FeedbackError("TopicArn", "not an allowed topic")
    notification_id = _text(envelope, "MessageId", "MessageId")
    sent = _time(envelope.get("Timestamp"), "Timestamp")
    if sns_type != "Notification":
        return _handshake(envelope, sns_type, notification_id, _required(sent), topic_arn)

    message = envelope.get("Message")
    if not isinstance(message, str):
        raise FeedbackError("Message", "expected a JSON string")
    try:
        event = json.loads(message)
    except ValueError:
        raise FeedbackError("Message", "not JSON") from None
    if not isinstance(event, dict):
        raise FeedbackError("Message", "expected a JSON object")
    return _ses_event(event, notification_id, sent, topic_arn, message_id_tag, message_id_header)


def _handshake(envelope: dict[str, Any], sns_type: str, notification_id: str, at: datetime, topic: str) -> Feedback:
    subscribe_url = None
    if sns_type == "SubscriptionConfirmation":
        subscribe_url = envelope.get("SubscribeURL")
        # The adapter will GET this URL: only ever an SNS endpoint (no SSRF through a forged message).
        if not isinstance(subscribe_url, str) or not is_sns_url(subscribe_url):
            raise FeedbackError("SubscribeURL", "not an https://sns.<region>.amazonaws.com URL")
    return Feedback(
        kind="subscription",
        notification_id=notification_id,
        at=at,
        subscribe_url=subscribe_url,
        topic_arn=topic,
        detail={"sns_type": sns_type},
    )


def _ses_event(
    event: dict[str, Any], notification_id: str, sent: datetime | None, topic: str, tag_name: str, header_name: str
) -> Feedback:
    name = event.get("eventType", event.get("notificationType"))
    if name == "AmazonSnsSubscriptionSucceeded":  # SES's hello after the topic is configured; no mail involved
        return Feedback("subscription", notification_id, _required(sent), topic_arn=topic, detail={"ses": name})
    if name not in SES_EVENTS:
        raise FeedbackError("eventType", f"unknown SES event {str(name)[:40]!r}")
    kind, key = SES_EVENTS[name]
    mail = event.get("mail")
    if not isinstance(mail, dict):
        raise FeedbackError("mail")
    body = event.get(key, {})
    if not isinstance(body, dict):
        raise FeedbackError(key)
    tags = _tags(mail)
    at = _required(
        _time(body.get("timestamp"), f"{key}.timestamp") or _time(mail.get("timestamp"), "mail.timestamp") or sent
    )
    recipients, detail = _specifics(kind, key, body, mail)
    permanent = kind == "bounce" and body.get("bounceType") == "Permanent"
    complaint = kind == "complaint" and str(body.get("complaintFeedbackType") or "").lower() != NOT_SPAM
    return Feedback(
        kind=kind,
        notification_id=notification_id,
        at=at,
        ses_message_id=_text(mail, "messageId", "mail.messageId"),
        message_id=tags.get(tag_name) or _header(mail, header_name),
        recipients=recipients,
        permanent=permanent,
        suppress=permanent or complaint,
        tags=tags,
        detail=detail,
        topic_arn=topic,
    )


def _specifics(kind: str, key: str, body: dict[str, Any], mail: dict[str, Any]) -> tuple[tuple[str, ...], dict]:
    """Recipients this event is about, and the fields worth keeping for the message log."""
    if kind == "bounce":
        rows = _recipient_rows(body, "bouncedRecipients", key)
        detail = _pick(body, "bounceType", "bounceSubType", "feedbackId", "reportingMTA", "remoteMtaIp")
        detail["diagnostics"] = {r: _pick(row, "action", "status", "diagnosticCode") for r, row in rows}
        return tuple(r for r, _ in rows), detail
    if kind == "complaint":
        rows = _recipient_rows(body, "complainedRecipients", key)
        detail = _pick(body, "complaintFeedbackType", "complaintSubType", "feedbackId", "userAgent", "arrivalDate")
        return tuple(r for r, _ in rows), detail
    if kind == "delay":
        rows = _recipient_rows(body, "delayedRecipients", key)
        detail = _pick(body, "delayType", "expirationTime", "reportingMTA")
        detail["diagnostics"] = {r: _pick(row, "status", "diagnosticCode") for r, row in rows}
        return tuple(r for r, _ in rows), detail
    if kind == "delivery" and "recipients" in body:
        recipients = _addresses(body.get("recipients"), f"{key}.recipients")
        return recipients, _pick(body, "smtpResponse", "processingTimeMillis", "reportingMTA", "remoteMtaIp")
    recipients = _addresses(mail.get("destination", []), "mail.destination")
    pickers = {
        "reject": ("reason",),
        "open": ("ipAddress", "userAgent"),
        "click": ("ipAddress", "userAgent", "link", "linkTags"),
        "rendering_failure": ("errorMessage", "templateName"),
        "preferences": ("contactList", "source", "newTopicPreferences", "oldTopicPreferences"),
    }
    return recipients, _pick(body, *pickers.get(kind, ()))


def _recipient_rows(body: dict[str, Any], name: str, key: str) -> list[tuple[str, dict[str, Any]]]:
    rows = body.get(name)
    if not isinstance(rows, list) or not rows:
        raise FeedbackError(f"{key}.{name}")
    out = []
    for row in rows:
        if not isinstance(row, dict):
            raise FeedbackError(f"{key}.{name}")
        out.append((_address(row.get("emailAddress"), f"{key}.{name}.emailAddress"), row))
    return out


def _addresses(values: Any, name: str) -> tuple[str, ...]:
    if not isinstance(values, list):
        raise FeedbackError(name)
    return tuple(_address(v, name) for v in values)


def _address(value: Any, name: str) -> str:
    # Normalised like profile emails (`clean_email`) so suppression keys match identity keys.
    address = clean_email(value)
    if address is None:
        raise FeedbackError(name, "expected an email address")
    return address


def _tags(mail: dict[str, Any]) -> dict[str, str]:
    raw = mail.get("tags", {})
    if not isinstance(raw, dict):
        raise FeedbackError("mail.tags")
    tags: dict[str, str] = {}
    for name, values in raw.items():
        # Event publishing sends every tag value as a list of strings.
        value = values[0] if isinstance(values, list) and values else values
        if isinstance(value, str):
            tags[str(name)] = value
    return tags


def _header(mail: dict[str, Any], name: str) -> str | None:
    headers = mail.get("headers")
    if not isinstance(headers, list):
        return None
    wanted = name.lower()
    for header in headers:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == wanted:
            value = header.get("value")
            return value.strip() if isinstance(value, str) and value.strip() else None
    return None


def _pick(source: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: source[name] for name in names if source.get(name) is not None}


def _text(source: Mapping[str, Any], key: str, name: str) -> str:
    value = source.get(key)
    if not isinstance(value, str) or not value.strip():
        raise FeedbackError(name)
    return value


def _required(at: datetime | None) -> datetime:
    """The time of a notification: SNS signs and always sends `Timestamp`, so a message without any time is forged."""
    if at is None:
        raise FeedbackError("Timestamp")
    return at


def _time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FeedbackError(name, "expected an ISO-8601 time")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FeedbackError(name, "expected an ISO-8601 time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


# --------------------------------------------------------------------------------------------------------------------
# SNS signatures
# --------------------------------------------------------------------------------------------------------------------

_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


def is_sns_url(url: str) -> bool:
    """True for `https://sns.<region>.amazonaws.com[.cn]/...` with no credentials, odd port or fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and parts.username is None
        and parts.password is None
        and port in (None, 443)
        and not parts.fragment
        and _SNS_HOST.fullmatch(parts.hostname or "") is not None
        and "@" not in parts.netloc
    )


def signing_cert_url(raw: Mapping[str, Any] | str | bytes) -> str:
    """The envelope's SigningCertURL after checking it is an SNS certificate URL (the only URL the adapter may fetch).

    Raises FeedbackError("SigningCertURL") otherwise."""
    url = sns_envelope(raw).get("SigningCertURL")
    if not isinstance(url, str) or not is_sns_url(url):
        raise FeedbackError("SigningCertURL", "not an https://sns.<region>.amazonaws.com certificate URL")
    parts = urlsplit(url)
    if parts.query or not _CERT_PATH.fullmatch(parts.path):
        raise FeedbackError("SigningCertURL", "not a SimpleNotificationService-*.pem path")
    return url


def canonical_string(raw: Mapping[str, Any] | str | bytes) -> bytes:
    """The bytes SNS signed: `name\\nvalue\\n` for each signed field present, in SNS's fixed (alphabetical) order.

    Subject is included only when present (and not null) in a Notification. Raises FeedbackError for an unknown Type or
    a missing signed field."""
    envelope = sns_envelope(raw)
    names = _SIGNED_FIELDS.get(envelope.get("Type"))  # type: ignore[arg-type]
    if names is None:
        raise FeedbackError("Type")
    lines: list[str] = []
    for name in names:
        value = envelope.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise FeedbackError(name)
        lines += [name, value]
    return ("\n".join(lines) + "\n").encode("utf-8")


def verify_sns_signature(raw: Mapping[str, Any] | str | bytes, cert_pem: bytes) -> None:
    """Check the envelope's RSA signature with the SNS certificate (PEM bytes fetched from `signing_cert_url`).

    SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA (PKCS#1 v1.5). Returns None when genuine; raises
    FeedbackError("Signature" | "SignatureVersion" | "SigningCert") otherwise. Needs the `cryptography` package.
    """
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    envelope = sns_envelope(raw)
    algorithms = {"1": hashes.SHA1, "2": hashes.SHA256}  # SHA1 only because SNS still signs v1 with it
    algorithm = algorithms.get(str(envelope.get("SignatureVersion")))
    if algorithm is None:
        raise FeedbackError("SignatureVersion")
    try:
        signature = base64.b64decode(str(envelope.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise FeedbackError("Signature", "not base64") from None
    try:
        public_key = x509.load_pem_x509_certificate(cert_pem).public_key()
    except ValueError:
        raise FeedbackError("SigningCert", "not a PEM certificate") from None
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise FeedbackError("SigningCert", "not an RSA certificate")
    try:
        public_key.verify(signature, canonical_string(envelope), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise FeedbackError("Signature", "does not match") from None
