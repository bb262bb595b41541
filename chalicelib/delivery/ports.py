"""Delivery ports: what the scenario and delivery services need from storage, queues and providers.

Kept beside `ports.py` (same role) so the services depend on these shapes, never on boto3; adapters satisfy them
structurally. Provider errors are classified here because the exactly-once decision depends on them:

- `ProviderRejected`: the provider answered and sent nothing, so a retry cannot duplicate the message.
- `ProviderOutcomeUnknown`: the request may have reached the provider (read timeout, connection reset after sending);
  the message may or may not exist. This is the one crash window; see `services/delivery.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chalicelib.scenarios.ports import RelatedProducts as RelatedProducts  # the scenario ports, re-exported
from chalicelib.scenarios.ports import RunStore as RunStore
from chalicelib.scenarios.ports import StepQueue as StepQueue


class ProviderRejected(Exception):
    """Nothing was sent. `retryable`: throttling or an outage (try again); else permanent (bad address...)."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        self.code = code
        self.retryable = retryable
        super().__init__(f"{code}: {message}")


class ProviderOutcomeUnknown(Exception):
    """The request may have been accepted: never resend automatically."""


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    html: str
    text: str
    message_id: str
    tags: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class MessageStore(Protocol):
    def get(self, profile_id: str, trigger_id: str, step_index: int) -> dict[str, Any] | None: ...
    def claim(self, record: dict[str, Any], now: datetime) -> bool: ...
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
    def for_profile(self, profile_id: str) -> list[dict[str, Any]]: ...
    def attention(self, status: str, older_than: datetime, limit: int = 100) -> list[tuple[str, str]]: ...
    def get_by_key(self, profile_id: str, sk: str) -> dict[str, Any] | None: ...
    def sends_since(self, profile_id: str, since: datetime) -> list[dict[str, Any]]: ...
    def is_suppressed(self, channel: str, address: str) -> bool: ...


class DueStore(Protocol):
    def put(self, due_at: datetime, ref: str, payload: dict[str, Any]) -> None: ...
    def due(self, after: datetime, until: datetime) -> Iterable[dict[str, Any]]: ...
    def cursor(self) -> datetime | None: ...
    def set_cursor(self, at: datetime) -> None: ...


class EmailSender(Protocol):
    def send(self, email: OutgoingEmail) -> str:
        """Send one email; returns the provider's message id. Raises ProviderRejected / ProviderOutcomeUnknown."""
        ...


class Notifier(Protocol):
    def send_sms(self, phone: str, text: str, message_id: str) -> str: ...
    def publish(self, topic: str, subject: str, text: str, attributes: dict[str, str]) -> str: ...


class WebhookCaller(Protocol):
    def post(self, url: str, payload: dict[str, Any], idempotency_key: str) -> str: ...
