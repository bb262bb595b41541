"""Email through SES v2: one raw MIME message per send, configuration set and tags, no automatic retries."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.policy import SMTP
from functools import cache
from typing import Any

from chalicelib.delivery.adapters.provider_call import provider_call
from chalicelib.delivery.ports import OutgoingEmail

# SES tag names and values: ASCII letters, digits, underscore, dash; at most 256 characters.
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")
RETRYABLE_CODES = {
    "TooManyRequestsException",
    "LimitExceededException",
    "SendingPausedException",
    "ThrottlingException",
    "ServiceUnavailable",
    "InternalFailure",
}


def ses_tag(value: str) -> str:
    return _TAG_UNSAFE.sub("_", value)[:256] or "_"


@cache
def _client() -> Any:
    """A separate SES client with retries OFF: botocore retries a read timeout, and for SES (no idempotency key) a
    retried send after a timeout may deliver the message twice. Only we decide when a send is retried."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2, read_timeout=10)
    return boto3.session.Session().client("sesv2", config=config)


def reset_client() -> None:
    _client.cache_clear()


def build_mime(sender: str, email: OutgoingEmail) -> bytes:
    """multipart/alternative (text, then HTML) with our headers (List-Unsubscribe...)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    for name, value in email.headers.items():
        message[name] = value
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message.as_bytes(policy=SMTP)


class SesEmailSender:
    """Raw content (not Simple) so our headers reach the recipient on every SES and botocore version."""

    def __init__(self, sender: str, configuration_set: str | None) -> None:
        self.sender = sender
        self.configuration_set = configuration_set

    def send(self, email: OutgoingEmail) -> str:

        kwargs: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [email.to]},
            "Content": {"Raw": {"Data": build_mime(self.sender, email)}},
            "EmailTags": [{"Name": ses_tag(k), "Value": ses_tag(v)} for k, v in email.tags.items()],
        }
        if self.configuration_set:
            kwargs["ConfigurationSetName"] = self.configuration_set
        return provider_call(_client().send_email, RETRYABLE_CODES, **kwargs)
