"""Delivery ports: what the scenario and delivery services need from storage, queues and providers.

The services depend on these shapes, never on boto3; adapters satisfy them structurally. Message records cross the
MessageStore as `MessageRecord` and emails as `OutgoingEmail`, both defined by engagement (below delivery, and a reader
of the records / a sender of the confirmation mail). Provider errors are classified here because the exactly-once
decision depends on them:

- `ProviderRejected`: the provider answered and sent nothing, so a retry cannot duplicate the message.
- `ProviderOutcomeUnknown`: the request may have reached the provider (read timeout, connection reset after sending);
  the message may or may not exist. This is the one crash window; see `delivery/steps.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol, TypedDict

from chalicelib.engagement.ports import EmailSender, MessageRecord, OutgoingEmail
from chalicelib.scenarios.ports import RelatedProducts, RunStore, StepQueue  # the scenario ports, re-exported

__all__ = [
    "DueStore",
    "EmailSender",
    "InAppInbox",
    "MessageRecord",
    "MessageStore",
    "Notifier",
    "OutgoingEmail",
    "ProviderOutcomeUnknown",
    "ProviderRejected",
    "PushSender",
    "PushTokens",
    "RelatedProducts",
    "RunStore",
    "SendLogEntry",
    "SendQuota",
    "SendRateCounter",
    "StepQueue",
    "WebhookCaller",
]


class ProviderRejected(Exception):
    """Nothing was sent. `retryable`: throttling or an outage (try again); else permanent (bad address...)."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        self.code = code
        self.retryable = retryable
        super().__init__(f"{code}: {message}")


class ProviderOutcomeUnknown(Exception):
    """The request may have been accepted: never resend automatically."""


class SendLogEntry(TypedDict, total=False):
    """One customer send (MessagesTable `log#{sent_at}#{message_id}`): what the caps and the budget count."""

    pk: str
    sk: str  # `log#{sent_at}#{message_id}`: the send time is sk[4:]
    channel: str
    cost: float
    marketing: bool
    scenario_id: str
    topic: str  # the scenario's or broadcast's preference topic (topic caps); absent when it has none
    expires_at: int


class MessageStore(Protocol):
    def get(self, profile_id: str, trigger_id: str, step_index: int) -> MessageRecord | None: ...
    def claim(self, record: MessageRecord, now: datetime) -> bool: ...
    def finish(
        self,
        profile_id: str,
        trigger_id: str,
        step_index: int,
        status: str,
        now: datetime,
        *,
        expect: str = "sending",
        log: dict[str, Any] | None = None,
        **fields: Any,
    ) -> bool: ...
    def for_profile(self, profile_id: str) -> list[MessageRecord]: ...
    def attention(self, status: str, older_than: datetime, limit: int = 100) -> list[tuple[str, str]]: ...
    def get_by_key(self, profile_id: str, sk: str) -> MessageRecord | None: ...
    def sends_since(self, profile_id: str, since: datetime) -> list[SendLogEntry]: ...
    def is_suppressed(self, channel: str, address: str) -> bool: ...
    def suppress(self, channel: str, address: str, reason: str, now: datetime) -> None: ...


class DueStore(Protocol):
    def put(self, due_at: datetime, ref: str, payload: dict[str, Any]) -> None: ...
    def due(self, after: datetime, until: datetime) -> Iterable[dict[str, Any]]: ...
    def cursor(self) -> datetime | None: ...
    def set_cursor(self, at: datetime) -> None: ...


class Notifier(Protocol):
    def send_sms(self, phone: str, text: str, message_id: str) -> str: ...
    def publish(self, topic: str, subject: str, text: str, attributes: dict[str, str]) -> str: ...


class PushSender(Protocol):
    """Mobile push through SNS platform endpoints (delivery/adapters/sns_push.py).

    `endpoint` finds or creates a device's platform endpoint (before the message record is claimed); `send`
    publishes one rendered notification to one device (`token`, `platform` ios/android, `app`, `endpoint`). Raises
    ProviderRejected (`EndpointDisabled`: APNs / FCM refused the token and SNS disabled its endpoint: retire it) or
    ProviderOutcomeUnknown like every provider."""

    def endpoint(self, device: dict[str, Any]) -> str:
        """The device's platform endpoint, created if needed (idempotent, sends nothing)."""
        ...

    def send(self, device: dict[str, Any], push: Any, message_id: str) -> str: ...
    def forget(self, token: str) -> None:
        """Delete the token's platform endpoint (a retired token), if it has one."""
        ...


class PushTokens(Protocol):
    """What delivery knows about a push token beyond the profile (MessagesTable `push#<token>`): its SNS platform
    endpoint and whether it was retired (an endpoint SNS disabled: never used again until the app re-registers
    the token after a fresh permission grant)."""

    def endpoint(self, token: str) -> str | None: ...
    def remember_endpoint(self, token: str, arn: str) -> None: ...
    def retired(self, tokens: Iterable[str]) -> set[str]: ...
    def retire(self, token: str, reason: str, now: datetime) -> None: ...
    def reinstate(self, token: str) -> bool:
        """Lift a retirement (a re-registration with permission granted). True when the token was retired."""
        ...

    def export(self, tokens: Iterable[str]) -> list[dict[str, str]]:
        """The records kept about these tokens (a person's access export)."""
        ...

    def erase(self, tokens: Iterable[str]) -> int:
        """Delete these tokens' records (a person's erasure); returns how many there were."""
        ...


class WebhookCaller(Protocol):
    def post(self, url: str, payload: dict[str, Any], idempotency_key: str) -> str: ...


class SendRateCounter(Protocol):
    """Sends counted per channel and window, shared by every Lambda container (StateTable `rate#<channel>#<window>`)."""

    def take(self, channel: str, window: int, want: int, limit: int) -> int:
        """Add up to `want` to the window's count without ever passing `limit`; returns how many were added (0: the
        window is full). Atomic across concurrent callers."""
        ...


class SendQuota(Protocol):
    """The provider account's own limit (SES `GetAccount` -> `SendQuota.MaxSendRate`)."""

    def max_send_rate(self) -> float | None:
        """Emails per second the account may send; None when it cannot be read."""
        ...


class InAppInbox(Protocol):
    """Where a scenario step with channel `in_app` puts its message: the person's in-app state (the in-app wing)."""

    def deliver(self, profile_id: str, message: str, record: MessageRecord) -> str:
        """Put in-app message `message` up for the person; returns a provider-style id. KeyError: no such message."""
        ...
