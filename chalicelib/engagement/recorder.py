"""Engagement use cases: opens, clicks, unsubscribes, SES feedback, conversions and the report counters they feed.

Every fact lands twice, on purpose:
- as an event on the person's profile (source `email`, deterministic message id, so a reloaded pixel or a redelivered
  SNS notification is stored once) so history, scoring and scenarios see it like any other event;
- as an idempotent ADD on a report row (`report#<scenario>`, `<step>#<variant>#<channel>`), keyed by a fact id, so
  reports are one Query and never double count.

Human vs machine (`classification.py`): machine opens are stored as `Email Opened (Machine)`, which the scoring
config does not know, so only human opens (`Email Opened`) can score; only human opens and clicks become touches for
conversion attribution.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from chalicelib.engagement import reports
from chalicelib.engagement import tokens as lt
from chalicelib.engagement.daily import day_of
from chalicelib.engagement.ports import (
    EmailSender,
    EngagementStore,
    EventWriter,
    MessageRecord,
    MessageRecords,
    OutgoingEmail,
)
from chalicelib.shared.clock import Clock
from chalicelib.tracking.events import TrackedEvent, iso

CONFIRMATIONS_PER_ADDRESS = 3  # a day
CONFIRMATIONS_PER_SOURCE = 500  # an hour

log = logging.getLogger("one2one")

SOURCE_ID = "email"
OPEN_EVENT = "Email Opened"
MACHINE_OPEN_EVENT = "Email Opened (Machine)"
CLICK_EVENT = "Email Link Clicked"
MACHINE_CLICK_EVENT = "Email Link Clicked (Machine)"
UNSUBSCRIBE_EVENTS = {"email": "Email Unsubscribed", "sms": "SMS Unsubscribed"}
SUBSCRIBE_EVENTS = {"email": "Email Subscribed", "sms": "SMS Subscribed"}
TOPIC_EVENTS = {"opted_out": "Email Topic Unsubscribed", "opted_in": "Email Topic Subscribed"}
PUSH_OPEN_EVENT = "Push Opened"  # sent by the app when a notification is tapped (Segment / Amplify name)
PUSH_MESSAGE_ID_KEY = "one2one_message_id"  # delivery/push.MESSAGE_ID_KEY: the payload key the app echoes back
ATTRIBUTION_LOOKBACK = timedelta(days=7)
CONFIRM_TTL = timedelta(days=7)
HOLDOUT = "holdout"


def row_key(step: str, variant: str | None, channel: str) -> str:
    return f"{step}#{variant or 'none'}#{channel}"


# Send-time optimisation: sends and human opens and clicks per arm, on rows of their own (four parts, `sto#` first)
# beside the step rows, which keep counting every message once.
STO_ARMS = ("optimised", "control")
STO_COUNTERS = frozenset({"sent", "human_opens", "clicks"})


def sto_row_key(step: str, channel: str, arm: str) -> str:
    return f"sto#{step}#{channel}#{arm}"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class EngagementService:
    def __init__(
        self,
        *,
        store: EngagementStore,
        messages: MessageRecords,
        events: EventWriter,
        clock: Clock,
        keyring: Callable[[], lt.Keyring | None],
        legacy_unsubscribe_keys: Mapping[str, str] | None = None,
        feedback_topic_arns: Callable[[], Iterable[str]] = tuple,
        email: EmailSender | None = None,
        public_base_url: str = "",
    ) -> None:
        self.email = email
        self.public_base_url = public_base_url
        self.store = store
        self.messages = messages
        self.events = events
        self.clock = clock
        self._keyring = keyring
        # Unsubscribe links mailed before the one token scheme (key id -> signing key; may resolve lazily in AWS).
        self.legacy_unsubscribe_keys: Mapping[str, str] = (
            {} if legacy_unsubscribe_keys is None else legacy_unsubscribe_keys
        )
        self._feedback_topic_arns = feedback_topic_arns

    # -- helpers ------------------------------------------------------------------------------------------------------
    def verify(self, token: str, purpose: lt.Purpose) -> lt.LinkPayload | None:
        """The payload of a genuine `purpose` token, else None (the reason is logged, never shown)."""
        ring = self._keyring()
        if ring is None:
            return None
        legacy = self.legacy_unsubscribe_keys if purpose == "unsub" else None
        try:
            return lt.verify(ring, token, purpose, now=self.clock.now(), legacy_keys=legacy)
        except lt.InvalidToken as exc:
            log.info("link token rejected (%s, %s)", purpose, exc.reason)
            return None

    def expired(self, token: str, purpose: lt.Purpose) -> bool:
        """Whether a token is genuine but past its expiry (the person gets an explanation, not a bare 404)."""
        ring = self._keyring()
        if ring is None:
            return False
        try:
            lt.verify(ring, token, purpose, now=self.clock.now())
        except lt.InvalidToken as exc:
            return exc.reason == "expired"
        return False

    def _record(self, profile_id: str, message_id: str) -> MessageRecord | None:
        """The message record of `message_id` in the person's partition (one Query; the token carries no run key)."""
        return next((r for r in self.messages.for_profile(profile_id) if r.get("message_id") == message_id), None)

    def _event(
        self,
        profile_id: str,
        event_id: str,
        name: str,
        properties: dict[str, Any],
        at: datetime,
        traits: dict[str, Any] | None = None,
    ) -> bool:
        event = TrackedEvent(
            traits=traits or {},
            message_id=event_id,
            source_id=SOURCE_ID,
            type="track",
            profile_id=profile_id,
            timestamp=at,
            received_at=at,
            event=name,
            properties=properties,
        )
        return self.events.put_new(event)

    def _count(
        self, fact_id: str, record: Mapping[str, Any], increments: dict[str, float], *, daily: bool = False
    ) -> bool:
        row = row_key(str(record.get("step_id")), record.get("variant"), str(record.get("channel", "email")))
        now = self.clock.now()
        # Email outcomes also feed the console's daily series, inside the same transaction (no second marker).
        day = day_of(now) if daily and record.get("channel", "email") == "email" else None
        counted = self.store.count(fact_id, str(record.get("scenario_id")), row, increments, now, daily=day)
        arm = record.get("sto")
        if arm in STO_ARMS and any(name in STO_COUNTERS for name in increments):
            # The send-time arm's own row, under its own fact marker: idempotent on its own, so a retry after a
            # failure between the two writes completes the second one without counting the first twice.
            self.store.count(
                f"sto#{fact_id}",
                str(record.get("scenario_id")),
                sto_row_key(str(record.get("step_id")), str(record.get("channel", "email")), str(arm)),
                {k: v for k, v in increments.items() if k in STO_COUNTERS},
                self.clock.now(),
            )
        return counted

    @staticmethod
    def _dims(record: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "message_id": record.get("message_id"),
            "scenario_id": record.get("scenario_id"),
            "step": record.get("step_id"),
            "variant": record.get("variant"),
        }

    def message_sent(self, record: MessageRecord) -> None:
        """Delivery's hook after the provider accepted a message."""
        self._count(f"sent#{record['message_id']}", record, {"sent": 1}, daily=True)

    def message_skipped(self, record: MessageRecord) -> None:
        """Delivery's hook when a guard skipped a message for good: counted per reason (`skipped_<reason>`), so a
        report or a broadcast's results say how many were not sent and why (capped, no consent, suppressed...)."""
        reason = str(record.get("reason") or "unknown")
        self._count(f"skip#{record['message_id']}", record, {f"{reports.SKIPPED_PREFIX}{reason}": 1})

    # -- opens and clicks ---------------------------------------------------------------------------------------------
    def record_open(self, token: str, user_agent: str | None, ip: str | None, method: str = "GET") -> bool:
        """A pixel fetch: classify, store the event, count unique human / machine opens. False when ignored."""
        from chalicelib.engagement.classification import classify_open

        payload = self.verify(token, "open")
        if payload is None:
            return False
        record = self._record(payload.profile_id, payload.message_id)
        if record is None:
            return False
        now = self.clock.now()
        verdict = classify_open(
            user_agent,
            ip,
            _parse_time(record.get("delivered_at")),
            now,
            sent_at=_parse_time(record.get("sent_at")),
            method=method,
        )
        properties = {**self._dims(record), "machine": verdict.machine, "machine_reason": verdict.reason}
        if verdict.via:
            properties["via"] = verdict.via
        # One event per message and minute: a client reloading the image does not flood the history.
        event_id = f"open-{payload.message_id}-{'m' if verdict.machine else 'h'}-{now:%Y%m%d%H%M}"
        self._event(
            payload.profile_id, event_id, MACHINE_OPEN_EVENT if verdict.machine else OPEN_EVENT, properties, now
        )
        kind = "machine_opens" if verdict.machine else "human_opens"
        self._count(f"{kind}#{payload.message_id}", record, {kind: 1})  # unique opens per message
        if verdict.human:
            self.store.add_touch(payload.profile_id, {**self._dims(record), "kind": "human_open"}, now)
        return True

    def push_opens(self, profile_id: str, events: Iterable[TrackedEvent]) -> int:
        """The app's `Push Opened` events (the message id from the payload in `properties`): one unique open per
        message on its step / variant row (idempotent: a replayed event counts nothing) and a human touch for
        attribution. Returns the opens newly counted."""
        counted = 0
        for event in events:
            if event.event != PUSH_OPEN_EVENT or event.is_bot:
                continue
            message_id = event.properties.get(PUSH_MESSAGE_ID_KEY) or event.properties.get("message_id")
            if not isinstance(message_id, str) or not message_id:
                continue
            record = self._record(profile_id, message_id)
            if record is None or record.get("channel") != "push":
                continue  # not ours, or another person's message id: nothing to count
            if self._count(f"human_opens#{message_id}", record, {"human_opens": 1}):
                counted += 1
                self.store.add_touch(profile_id, {**self._dims(record), "kind": "human_open"}, event.timestamp)
        return counted

    def click_target(self, token: str) -> lt.LinkPayload | None:
        """The verified click payload (its URL is the redirect target), or None: never redirect an unverified URL."""
        return self.verify(token, "click")

    def record_click(
        self, payload: lt.LinkPayload, user_agent: str | None, ip: str | None, method: str = "GET"
    ) -> None:
        from chalicelib.engagement.classification import classify_click

        record = self._record(payload.profile_id, payload.message_id)
        if record is None:
            return
        now = self.clock.now()
        verdict = classify_click(
            user_agent,
            ip,
            _parse_time(record.get("delivered_at")),
            now,
            payload.url or "",
            sent_at=_parse_time(record.get("sent_at")),
            method=method,
        )
        url_hash = hashlib.sha256((payload.url or "").encode()).hexdigest()[:12]
        properties = {**self._dims(record), "url": payload.url, "machine": verdict.machine}
        if verdict.machine:
            properties["machine_reason"] = verdict.reason
        name = MACHINE_CLICK_EVENT if verdict.machine else CLICK_EVENT
        self._event(
            payload.profile_id, f"click-{payload.message_id}-{url_hash}-{now:%Y%m%d%H%M}", name, properties, now
        )
        if verdict.human:
            self._count(f"clicks#{payload.message_id}", record, {"clicks": 1})  # unique clickers per message
            self.store.add_touch(payload.profile_id, {**self._dims(record), "kind": "click"}, now)

    # -- unsubscribe --------------------------------------------------------------------------------------------------
    def unsubscribe_payload(self, token: str) -> lt.LinkPayload | None:
        """The verified payload of an unsubscribe / preference link (either token scheme), else None."""
        return self.verify(token, "unsub")

    def unsubscribe(self, payload: lt.LinkPayload, source: str) -> None:
        """Opt the person out of the channel now (direct override the delivery guard reads synchronously), and record
        the event so the profile's consent follows through the stream. One-click from the mail header opts out of
        the whole channel: RFC 8058 means "stop this kind of mail", and a narrower reading risks mailing someone
        who asked us to stop."""
        now = self.clock.now()
        profile_id, channel, message_id = payload.profile_id, payload.channel or "email", payload.message_id or None
        self.store.set_preference(profile_id, channel, None, "opted_out", now, source)
        properties = {"channel": channel, "topic": payload.topic, "source": source, "message_id": message_id}
        name = UNSUBSCRIBE_EVENTS.get(channel, "Email Unsubscribed")
        self._event(profile_id, f"unsub-{channel}-{now:%Y%m%d%H%M%S}", name, properties, now)
        if message_id is not None:
            record = self._record(profile_id, message_id)
            if record is not None:
                self._count(f"unsubscribes#{message_id}", record, {"unsubscribes": 1})

    def set_preferences(self, payload: lt.LinkPayload, channels: dict[str, bool], topics: dict[str, bool]) -> None:
        """The preference page: per-channel and per-topic choices, effective at once and recorded as events."""
        now = self.clock.now()
        profile_id = payload.profile_id
        current = self.store.preferences(profile_id)
        for channel, wanted in channels.items():
            status = "opted_in" if wanted else "opted_out"
            # A ticked box only re-subscribes someone who opted out here; it never creates consent out of nothing
            # (opt-in needs the double opt-in path with provenance).
            if current.get(channel, {}).get("status", "opted_in") == status:
                continue
            self.store.set_preference(profile_id, channel, None, status, now, "preferences")
            events = SUBSCRIBE_EVENTS if wanted else UNSUBSCRIBE_EVENTS
            self._event(
                profile_id,
                f"pref-{channel}-{status}-{now:%Y%m%d%H%M%S}",
                events[channel],
                {"channel": channel, "source": "preferences"},
                now,
            )
        for topic, wanted in topics.items():
            status = "opted_in" if wanted else "opted_out"
            if current.get(f"email#{topic}", {}).get("status", "opted_in") == status:
                continue
            self.store.set_preference(profile_id, "email", topic, status, now, "preferences")
            self._event(
                profile_id,
                f"pref-email-{topic}-{status}-{now:%Y%m%d%H%M%S}",
                TOPIC_EVENTS[status],
                {"channel": "email", "topic": topic, "source": "preferences"},
                now,
            )

    # -- double opt-in ------------------------------------------------------------------------------------------------
    def request_subscription(
        self, profile_id: str, address: str, source: str, source_id: str | None = None
    ) -> str | None:
        """Store the pending request (its provenance) and send the transactional confirmation mail; returns the
        message id. The link expires after CONFIRM_TTL; the person is subscribed only when they follow it.

        At most CONFIRMATIONS_PER_ADDRESS mails a day go to one address and CONFIRMATIONS_PER_SOURCE an hour from one
        source (a form loop or a bot cannot mail-bomb anyone): past that nothing is sent and None is returned (the
        API answers the same, so the limit reveals nothing about the address)."""
        now = self.clock.now()
        ring = self._keyring()
        if ring is None or self.email is None:
            raise RuntimeError("double opt-in needs link keys and an email sender")
        address_tag = hashlib.sha256(address.encode()).hexdigest()[:20]
        per_address = f"confirm#{address_tag}#{now:%Y%m%d}"
        per_source = f"confirm-source#{source_id or source}#{now:%Y%m%d%H}"
        if not self.store.take(per_address, CONFIRMATIONS_PER_ADDRESS, now + timedelta(days=2)):
            log.warning("confirmation mail not sent: the address had %d today", CONFIRMATIONS_PER_ADDRESS)
            return None
        if not self.store.take(per_source, CONFIRMATIONS_PER_SOURCE, now + timedelta(hours=2)):
            log.warning("confirmation mail not sent: source %s sent %d this hour", source, CONFIRMATIONS_PER_SOURCE)
            return None
        request_id = "s" + hashlib.sha256(f"{profile_id}\x1f{address}\x1f{iso(now)}".encode()).hexdigest()[:24]
        self.store.put_pending(profile_id, {"request_id": request_id, "email": address, "source": source}, now)
        expires = int((now + CONFIRM_TTL).timestamp())
        token = lt.issue(ring, "confirm", lt.LinkPayload(request_id, profile_id, channel="email", expires_at=expires))
        link = f"{self.public_base_url}/confirm/{token}"
        text = f"Please confirm that you want to receive our email by opening this link:\n\n{link}\n\n" + (
            "If you did not ask for this, ignore this message: nothing happens without your confirmation."
        )
        html = (
            "<p>Please confirm that you want to receive our email.</p>"
            f'<p><a href="{link}">Yes, subscribe me</a></p>'
            "<p>If you did not ask for this, ignore this message: nothing happens without your confirmation.</p>"
        )
        self.email.send(
            OutgoingEmail(
                to=address,
                subject="Please confirm your subscription",
                html=html,
                text=text,
                message_id=request_id,
                tags={
                    "scenario": "subscribe_confirmation",
                    "step": "confirm",
                    "variant": "none",
                    "message_id": request_id,
                },  # fmt: skip
                headers={"X-One2One-Message-Id": request_id},
            )
        )
        return request_id

    def confirm_payload(self, token: str) -> lt.LinkPayload | None:
        return self.verify(token, "confirm")

    def confirm(self, payload: lt.LinkPayload) -> bool:
        """Record `Email Subscribed` with its provenance (source, request and confirmation times) and opt in now."""
        pending = self.store.pending(payload.profile_id)
        if pending is None or pending.get("request_id") != payload.message_id:
            return False  # superseded by a newer request, or erased
        now = self.clock.now()
        properties = {
            "channel": "email",
            "source": pending.get("source"),
            "method": "double_opt_in",
            "requested_at": pending.get("requested_at"),
            "confirmed_at": iso(now),
            "request_id": payload.message_id,
        }
        # One event per request: a second visit of the same link records nothing new. The address is proven by the
        # click: it becomes the person's address (even when a browser only claimed it, tracking/trust.py).
        traits = {"email": pending["email"]} if pending.get("email") else None
        self._event(payload.profile_id, f"confirm-{payload.message_id}", "Email Subscribed", properties, now, traits)
        self.store.set_preference(payload.profile_id, "email", None, "opted_in", now, "double_opt_in")
        return True

    # -- SES feedback -------------------------------------------------------------------------------------------------
    def handle_feedback(self, raw: Any, suppress: Callable[[str, str, str, datetime], None]) -> str:
        """One SNS record from the feedback topic. Returns what happened (`dropped`, `duplicate`, the kind)."""
        from chalicelib.engagement.ses_feedback import FeedbackError, parse_feedback

        try:
            feedback = parse_feedback(raw, list(self._feedback_topic_arns()))
        except FeedbackError as exc:
            log.warning("ses feedback dropped: %s", exc)
            now = self.clock.now()
            self.store.count(
                f"feedback_dropped#{now:%Y%m%d%H%M%S%f}",
                "$feedback",
                "dropped#none#-",
                {"rejected": 1},
                now,
                listed=False,
            )
            return "dropped"
        if feedback.kind == "subscription":
            return "subscription"
        if feedback.suppress:
            reason = "complaint" if feedback.kind == "complaint" else "bounce"
            for address in feedback.recipients:
                suppress("email", address, reason, feedback.at)  # idempotent put: a redelivery changes nothing
        column = {
            "delivery": "delivered",
            "bounce": "bounced",
            "complaint": "complaints",
            "reject": "rejected",
            "delay": "delayed",
        }.get(feedback.kind)
        scenario = feedback.tags.get("scenario")
        if column is None or not scenario:
            return feedback.kind
        if feedback.kind == "bounce" and not feedback.permanent:
            return feedback.kind  # a soft bounce is retried by SES; it is reported as a delay, not a bounce
        try:
            self._mark_message(feedback, column)
        except Exception:  # the per-message time is a nicety; the suppression and the counters above/below matter
            log.exception("ses feedback: message %s not marked %s", feedback.message_id, column)
        variant = feedback.tags.get("variant")
        row = row_key(feedback.tags.get("step", "-"), None if variant in (None, "none") else variant, "email")
        counted = self.store.count(
            f"ses#{feedback.notification_id}", scenario, row, {column: 1}, self.clock.now(), daily=day_of(feedback.at)
        )
        return feedback.kind if counted else "duplicate"

    def _mark_message(self, feedback: Any, column: str) -> None:
        """Per-message facts on the record (the open classifier times opens from `delivered_at`)."""
        profile_id, message_id = feedback.tags.get("profile"), feedback.message_id
        if not profile_id or not message_id:
            return  # sent before the profile tag existed, or not by one2one
        record = self._record(profile_id, message_id)
        if record is not None and record.get("sk"):
            self.store.mark_message(profile_id, str(record["sk"]), f"{column}_at", feedback.at)

    # -- conversions and holdout --------------------------------------------------------------------------------------
    def run_starting(self, run: Any) -> None:
        """Call before creating a run: names its scenario in the report listing (the store writes it once per scenario
        per warm container; the run record itself is the uplift report's assignment: `ReportStore.assignments`).

        Before the create, so a crash between the two cannot leave a run whose scenario is not listed; a create that
        then finds the run already there (a replay) has listed nothing new."""
        self.store.list_scenario(run.scenario_id, self.clock.now())

    def orders(self, profile_id: str, events: Iterable[TrackedEvent], runs: Iterable[Any]) -> None:
        """Attribute each new Order Completed to the last human touch (rules in `attribution.py`), and
        count it for every run (treated or holdout) the person entered within the window before it (uplift)."""
        from chalicelib.engagement.attribution import DEFAULT_CLICK_WINDOW, Touch, attribute

        orders = [e for e in events if e.event == "Order Completed" and not e.is_bot and not e.unverified]
        if not orders:
            return
        runs = list(runs)
        earliest = min(o.timestamp for o in orders) - ATTRIBUTION_LOOKBACK
        stored = self.store.touches(profile_id, earliest)
        touches = [
            Touch(t["message_id"], t["scenario_id"], str(t["step"]), t.get("variant"), t["kind"], at)
            for t in stored
            if (at := _parse_time(t.get("at"))) is not None
        ]
        for order in orders:
            revenue = _revenue(order.properties)
            credit = attribute(order.timestamp, revenue, touches)
            if credit is not None:
                t = credit.touch
                self.store.count(
                    f"conv#{order.key}",
                    t.scenario_id,
                    row_key(t.step, t.variant, "email"),
                    {"conversions": 1, "revenue": revenue},
                    self.clock.now(),
                )
            for run in runs:
                if timedelta(0) <= order.timestamp - run.entered_at <= DEFAULT_CLICK_WINDOW:
                    # On the run record (one conditional write, read back by the report); a replay, or a run that
                    # is gone, counts nothing. Only past a run's cap of orders does the counter row take the rest.
                    recorded = self.store.run_conversion(
                        run.profile_id, run.trigger_id, run.scenario_id, run.holdout, order.key, revenue
                    )
                    if recorded != "full":
                        continue
                    arm = HOLDOUT if run.holdout else "treated"
                    self.store.count(
                        f"runconv#{order.key}#{run.trigger_id}",
                        run.scenario_id,
                        f"*#{arm}#*",
                        {"run_conversions": 1, "revenue": revenue} if run.holdout else {"run_conversions": 1},
                        self.clock.now(),
                    )


def _revenue(properties: Mapping[str, Any]) -> float:
    for key in ("revenue", "total", "value"):
        value = properties.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 0.0
