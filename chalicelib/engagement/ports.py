"""Engagement ports: the message records it reads, the events and counters it writes, the mail it sends.

Engagement sits below delivery, so the shapes both use live here and delivery imports them: the message record one
send leaves behind (`MessageRecord`, written by delivery, read by engagement to attribute opens, clicks and feedback)
and the outgoing email (delivery's sends and engagement's double opt-in confirmation). Adapters satisfy the
Protocols structurally.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypedDict

from chalicelib.tracking.events import TrackedEvent


class MessageRecord(TypedDict, total=False):
    """One step of one run, as stored (MessagesTable `msg#{trigger}#{step}`); the exactly-once gate of a send.

    Written by delivery (claim, then finish), read by engagement (the token carries only message and profile ids).
    The `*_at` provider facts (`delivered_at`, `bounced_at`...) are added by SES feedback."""

    profile_id: str
    trigger_id: str
    step_index: int
    message_id: str
    scenario_id: str
    step_id: str
    channel: str
    variant: str | None
    template: str | None
    marketing: bool
    status: str
    reason: str | None
    detail: str | None
    until: str
    provider_id: str
    sent_at: str
    subject: str
    created_at: str
    updated_at: str
    expires_at: int
    sk: str
    history: list[dict[str, Any]]
    delivered_at: str
    bounced_at: str
    complaints_at: str
    rejected_at: str
    delayed_at: str
    sto: str  # send-time optimisation arm: "optimised" | "control" (absent: the step does not optimise)
    sto_until: str  # when it was deferred for its send time (at most once)


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    html: str
    text: str
    message_id: str
    tags: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class EmailSender(Protocol):
    def send(self, email: OutgoingEmail) -> str:
        """Send one email; returns the provider's message id. Raises ProviderRejected / ProviderOutcomeUnknown."""
        ...


class MessageRecords(Protocol):
    """The read side of delivery's MessageStore that engagement needs."""

    def for_profile(self, profile_id: str) -> list[MessageRecord]: ...


class EventWriter(Protocol):
    def put_new(self, event: TrackedEvent) -> bool:
        """Store the event unless its key exists (a reloaded pixel, a redelivered notification); True when new."""
        ...


class ReportCounter(Protocol):
    """Idempotent report counters: what the wings above need of `EngagementStore` to count (in-app messages)."""

    def count(
        self,
        fact_id: str,
        scenario_id: str,
        row: str,
        increments: dict[str, float],
        now: datetime,
        *,
        listed: bool = True,
        daily: str | None = None,
    ) -> bool: ...


class EngagementStore(ReportCounter, Protocol):
    """Report counters, touches for attribution, direct preference overrides and pending double opt-in requests."""

    def set_preference(
        self, profile_id: str, channel: str, topic: str | None, status: str, now: datetime, source: str
    ) -> None: ...
    def preferences(self, profile_id: str) -> dict[str, dict[str, str]]: ...
    def mark_message(self, profile_id: str, sk: str, field: str, at: datetime) -> None: ...
    def add_touch(self, profile_id: str, touch: dict[str, Any], at: datetime) -> None: ...
    def touches(self, profile_id: str, since: datetime) -> list[dict[str, Any]]: ...
    def put_pending(self, profile_id: str, request: dict[str, Any], now: datetime) -> None: ...
    def pending(self, profile_id: str) -> dict[str, Any] | None: ...
    def take(self, bucket: str, limit: int, expires: datetime) -> bool:
        """Count one use of `bucket` (a rate-limit window) unless it was used `limit` times: False then."""
        ...

    def list_scenario(self, scenario_id: str, now: datetime) -> None:
        """Name the scenario in the report listing (idempotent), for runs that count in no counter row."""
        ...

    def run_conversion(
        self, profile_id: str, trigger_id: str, scenario_id: str, holdout: bool, order_key: str, revenue: float
    ) -> RunConversion:
        """Record one order on the run it converts (the uplift report reads it there: `ReportStore.conversions`).
        "counted"; "counted_before" (a replay); "gone" (no such run record: erased or expired, not recreated);
        "full" (the run holds its maximum of orders: nothing recorded, count it elsewhere)."""
        ...


# What recording one order on one run did (`EngagementStore.run_conversion`).
RunConversion = Literal["counted", "counted_before", "gone", "full"]


class SmsSender(Protocol):
    """Texts through SNS (delivery's `SnsNotifier` satisfies it). `transactional`: a code the person asked for, not
    marketing (SNS routes and prices the two types apart)."""

    def send_sms(self, phone: str, text: str, message_id: str, *, transactional: bool = False) -> str: ...


class SmsCodeStore(Protocol):
    """Pending SMS confirmation codes, keyed by a keyed hash of the number (`tag`), plus the shared rate limiter and
    the direct preference the confirmation sets. The item holds a keyed hash of the code, never the code."""

    def put_sms_code(self, tag: str, request: dict[str, Any], expires: datetime) -> None:
        """Store the pending request (replacing the number's previous one: only the newest code confirms)."""
        ...

    def sms_code_attempt(self, tag: str, max_attempts: int, now: datetime) -> dict[str, Any] | None:
        """Count one attempt atomically and return the request with its `attempts`, or None when there is none, it
        expired, or it already had `max_attempts` (concurrent guesses cannot exceed the limit)."""
        ...

    def drop_sms_code(self, tag: str, request_id: str) -> bool:
        """Delete the request if it is still `request_id`; True when this call deleted it (one winner)."""
        ...

    def take(self, bucket: str, limit: int, expires: datetime) -> bool: ...
    def set_preference(
        self, profile_id: str, channel: str, topic: str | None, status: str, now: datetime, source: str
    ) -> None: ...


class ReportStore(Protocol):
    """The read side of the counters (admin reports)."""

    def rows(self, scenario_id: str, *, assignments: bool = True) -> dict[str, dict[str, float]]:
        """Row key -> counters; with `assignments`, the arm rows' `assigned` includes the scenario's stored runs (the
        run records are the assignments) and their `run_conversions` (and the holdout's `revenue`) the conversions
        recorded on them. Readers of the step rows only pass False (no index to read)."""
        ...

    def assignments(self, scenario_id: str) -> dict[str, int]:
        """Arm (`treated`, `holdout`) -> runs of the scenario started since the run record became the assignment."""
        ...

    def conversions(self, scenario_id: str) -> dict[str, dict[str, float]]:
        """Arm -> {`run_conversions`, `revenue`} recorded on the scenario's stored runs (`run_conversion`)."""
        ...

    def scenario_ids(self, limit: int, after: str | None) -> tuple[list[str], str | None]: ...


class DailyStore(Protocol):
    """The console's daily series counters (`engagement/daily.py`)."""

    def add_batch(self, batch: Any, now: datetime) -> str | None:
        """Count one stream batch once; None when counted, else the last sequence its marker already counted."""
        ...

    def rows(self, days: list[str]) -> dict[tuple[str, str], dict[str, float]]: ...
