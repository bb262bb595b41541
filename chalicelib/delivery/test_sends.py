"""Test sends: a template rendered for one profile (or an empty one) and sent to the addresses an operator gives.

What a marketer does before scheduling a broadcast: see the real mail in their own inbox. A test send is marked
(`[TEST]` subject, `X-One2One-Test` header, `test` tag), writes no message record, touches no report counter, run or
send log, and never goes to anyone but the given addresses, each checked like any address (one email, no CR/LF; an
E.164 phone in an allowed country). The unsubscribe and preference links are inert preview links.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.delivery.ports import EmailSender, Notifier
from chalicelib.engagement.ports import OutgoingEmail
from chalicelib.tracking.identity import clean_email, clean_phone, sms_destination_problem

__all__ = ["MAX_TEST_ADDRESSES", "TestSendError", "send_tests"]

MAX_TEST_ADDRESSES = 10


class TestSendError(ValueError):
    """A test send the operator must fix: `field` names what (an address, the list)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TestSent:
    to: str
    template: str
    provider_id: str

    def as_dict(self) -> dict[str, str]:
        return {"to": self.to, "template": self.template, "provider_id": self.provider_id}


def _addresses(channel: str, raw: Any, sms_countries: Sequence[str]) -> list[str]:
    if channel not in ("email", "sms"):  # a push goes to a person's devices, never to a typed-in address
        raise TestSendError("channel", "test sends are for email and sms: test a push on a test person's device")
    if not isinstance(raw, list) or not raw:
        raise TestSendError("to", "give 'to': a list of 1 to 10 addresses")
    if len(raw) > MAX_TEST_ADDRESSES:
        raise TestSendError("to", f"at most {MAX_TEST_ADDRESSES} test addresses")
    out: list[str] = []
    for n, value in enumerate(raw):
        clean = clean_email(value) if channel == "email" else clean_phone(value)
        if clean is None:
            kind = "an email address" if channel == "email" else "a phone number in E.164 form"
            raise TestSendError(f"to[{n}]", f"{value!r} is not {kind}")
        if channel == "sms" and (problem := sms_destination_problem(clean, frozenset(sms_countries))) is not None:
            raise TestSendError(f"to[{n}]", problem)
        out.append(clean)
    return out


def send_tests(
    *,
    channel: str,
    templates: Sequence[str],
    to: Any,
    profile: Mapping[str, Any],
    render: Callable[[str, Mapping[str, Any], dict[str, Any]], Any],
    extra: dict[str, Any],
    email: EmailSender,
    notifier: Notifier,
    sms_countries: Sequence[str],
) -> list[TestSent]:
    """Render each template for `profile` and send it to every address in `to`; the list of what went out.

    Raises TestSendError for a bad address list, before anything is sent."""
    addresses = _addresses(channel, to, sms_countries)
    sent: list[TestSent] = []
    for template in templates:
        rendered = render(template, profile, extra)
        for address in addresses:
            message_id = f"test-{uuid.uuid4().hex[:16]}"
            if channel == "email":
                provider_id = email.send(
                    OutgoingEmail(
                        to=address,
                        subject=f"[TEST] {rendered.subject}",
                        html=rendered.html or "",
                        text=rendered.text or "",
                        message_id=message_id,
                        tags={"test": "true", "template": template, "message_id": message_id},
                        headers={"X-One2One-Test": "true", "X-One2One-Message-Id": message_id},
                    )
                )
            else:
                provider_id = notifier.send_sms(address, f"[TEST] {rendered.sms or ''}", message_id)
            sent.append(TestSent(address, template, provider_id))
    return sent
