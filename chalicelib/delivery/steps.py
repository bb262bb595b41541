"""Delivery use case: execute run steps (wait / send / end), exactly once, with every guard checked at send time.

One SQS message = one step of one run (`{"p": profile_id, "t": trigger_id, "s": step_index}`). Executing it:

1. load the run; a stale (other step) or early (not yet due) message is a duplicate and is dropped;
2. `plan_next` resolves splits to a send, a wait or the end;
3. a wait writes the due store (or a short SQS delay) for the next step, then moves the run;
4. a send runs the guards with real counts, renders, and calls the provider behind the message-record gate.

Exactly once (the message record, key = profile + trigger instance + step):

- the record is written conditionally with status `sending` BEFORE the provider call; a duplicate stream or queue
  delivery finds it and sends nothing;
- after the provider accepts, it becomes `sent` with the provider's id, in one transaction with the send-log item the
  caps and budget count;
- the provider answered with an error (throttled, rejected): nothing was sent, so the record becomes `retry` (the queue
  retries the step) or `failed` (permanent);
- THE crash window: a crash or timeout after `sending` was written and before the provider's answer was recorded. SES
  and SNS have no idempotency key, so a resend could deliver twice, and not resending could lose the message. We choose
  **never twice (at most once)**: such a record stays `sending`, the run moves on, and the sweep turns `sending` older
  than `STUCK_AFTER` into `unknown` with an error log (the alert). An `unknown` message is resent only by an explicit
  `retry_message` (an operator who checked the SES event stream / recipient), never automatically. Nothing is silently
  lost: every unknown record is listed by the sweep and the admin API. Webhooks carry an `Idempotency-Key`, so for
  them an unknown outcome is simply retried (at least once, deduplicated by the receiver).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.delivery import guards as g
from chalicelib.delivery.ports import (
    DueStore,
    EmailSender,
    MessageStore,
    Notifier,
    OutgoingEmail,
    ProviderOutcomeUnknown,
    ProviderRejected,
    RelatedProducts,
    RunStore,
    StepQueue,
    WebhookCaller,
)
from chalicelib.profiles.ports import ProfileStore
from chalicelib.scenarios import definitions as sc
from chalicelib.scenarios.engine import (
    EndAction,
    ScenarioRun,
    SendAction,
    WaitAction,
    advance,
    exit_run,
    plan_next,
)
from chalicelib.shared.clock import Clock
from chalicelib.tracking.events import iso
from chalicelib.tracking.ports import EventStore

log = logging.getLogger("one2one")

STUCK_AFTER = timedelta(minutes=10)
OUTCOME_WRITE_ATTEMPTS = 4  # the provider-accepted write: 3 retries, 0.1 + 0.2 + 0.4 s at most
OUTCOME_WRITE_BACKOFF_SECONDS = 0.1
# Waits shorter than this go to SQS with a delay; longer ones to the due store, whose reader runs every minute and
# only ever reads items due after its cursor, so an item is always written well ahead of the cursor reaching it.
DUE_STORE_MIN_WAIT = timedelta(seconds=60)
EARLY_TOLERANCE = timedelta(seconds=5)
MAX_STEPS_PER_MESSAGE = 20
FIRST_READ_LOOKBACK = timedelta(hours=6)
BUDGET_PERIODS = {"month": timedelta(days=30), "quarter": timedelta(days=91), "year": timedelta(days=365)}


class RetryLater(Exception):
    """The step must be executed again later (the provider was throttled or unreachable)."""


# --------------------------------------------------------------------------------------------------------------------
# Signed links and personal codes
# --------------------------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_token(payload: Mapping[str, Any], key: str, key_id: str) -> str:
    """`{key_id}.{payload}.{signature}`, base64url, HMAC-SHA256 over `key_id.payload` (the key id allows rotation).

    Example: `sign_token({"p": "p_1", "c": "email", "t": "cart_reminders"}, key, "k1")`."""
    if not key:
        raise ValueError("ONE2ONE_SIGNING_KEY is not set: unsubscribe links cannot be signed")
    body = _b64(json.dumps(dict(payload), separators=(",", ":"), sort_keys=True).encode())
    signed = f"{key_id}.{body}"
    signature = _b64(hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest()[:16])
    return f"{signed}.{signature}"


def verify_token(token: str, keys: Mapping[str, str]) -> dict[str, Any] | None:
    """The payload of a token signed by one of `keys` (key id -> key), else None."""
    try:
        key_id, body, signature = token.split(".")
        key = keys[key_id]
    except (ValueError, KeyError):
        return None
    expected = _b64(hmac.new(key.encode(), f"{key_id}.{body}".encode(), hashlib.sha256).digest()[:16])
    # Compare bytes: compare_digest raises TypeError on non-ASCII str, and a forged token must never be a 500.
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None


def coupon_code(scenario_id: str, profile_id: str, key: str) -> str:
    """A personal code, the same every time for (scenario, profile), unguessable without the key: `XXXX-XXXX-XXXX`."""
    digest = hmac.new(key.encode() or b"-", f"coupon:{scenario_id}:{profile_id}".encode(), hashlib.sha256).digest()
    code = base64.b32encode(digest).decode().replace("=", "")[:12]
    return "-".join(code[i : i + 4] for i in range(0, 12, 4))


@dataclass(frozen=True)
class LinkSettings:
    public_base_url: str
    signing_key: str
    signing_key_id: str
    unsubscribe_mailto: str

    def unsubscribe_token(self, profile_id: str, channel: str, topic: str | None, message_id: str | None = None) -> str:
        payload = {"p": profile_id, "c": channel}
        if topic:
            payload["t"] = topic
        if message_id:  # lets the unsubscribe be counted on the message's report row (older tokens lack it)
            payload["m"] = message_id
        return sign_token(payload, self.signing_key, self.signing_key_id)


def apply_preferences(
    profile: dict[str, Any], overrides: Mapping[str, Mapping[str, str]], channel: str
) -> dict[str, Any]:
    """The profile with the unsubscribe / preference pages' direct choices applied where they are newer than the
    folded consent: the fold catches up through the stream, but the very next send must already respect them."""
    if not overrides:
        return profile
    consent = dict(profile.get("consent") or {})
    current = consent.get(channel) if isinstance(consent.get(channel), dict) else {}
    choice = overrides.get(channel)
    if choice and str(choice.get("at", "")) >= str((current or {}).get("at", "")):
        consent[channel] = {**(current or {}), "status": choice["status"], "at": choice.get("at")}
    topics = dict(consent.get("topics") or {}) if isinstance(consent.get("topics"), dict) else {}
    for key, value in overrides.items():
        if key.startswith(f"{channel}#"):
            topics[key.split("#", 1)[1]] = {"status": value.get("status"), "at": value.get("at")}
    if topics:
        consent["topics"] = topics
    return {**profile, "consent": consent}


def step_message(profile_id: str, trigger_id: str, step_index: int, **extra: Any) -> dict[str, Any]:
    return {"p": profile_id, "t": trigger_id, "s": step_index, **extra}


# --------------------------------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class DeliveryStats:
    executed: int = 0
    sent: int = 0
    skipped: int = 0
    deferred: int = 0
    failed: int = 0
    stale: int = 0


class DeliveryService:
    def __init__(
        self,
        *,
        runs: RunStore,
        messages: MessageStore,
        due: DueStore,
        queue: StepQueue,
        profiles: ProfileStore,
        events: EventStore,
        email: EmailSender,
        notifier: Notifier,
        webhook: WebhookCaller,
        related: RelatedProducts | None,
        clock: Clock,
        links: LinkSettings,
        scenarios: list[sc.Scenario] | None = None,
        config: g.DeliveryConfig | None = None,
        renderer: Callable[..., Any] | None = None,
        link_keyring: Any = None,
        on_sent: Callable[[dict[str, Any]], None] | None = None,
        preferences: Callable[[str], dict[str, dict[str, str]]] | None = None,
    ) -> None:
        self.runs = runs
        self.messages = messages
        self.due = due
        self.queue = queue
        self.profiles = profiles
        self.events = events
        self.email = email
        self.notifier = notifier
        self.webhook = webhook
        self.related = related
        self.clock = clock
        self.links = links
        self._scenarios = scenarios
        self._config = config
        self._renderer = renderer
        # Issue 5 (optional so unit tests can build the service without them): open/click tracking keys, the report
        # counter hook, and the direct opt-outs written by the unsubscribe / preference pages.
        self.link_keyring = link_keyring
        self.on_sent = on_sent
        self.preferences = preferences
        self.last_stats = DeliveryStats()

    @property
    def scenarios(self) -> dict[str, sc.Scenario]:
        if self._scenarios is None:
            from chalicelib.scenarios.triggers import load_packaged_scenarios

            self._scenarios = load_packaged_scenarios()
        return {s.id: s for s in self._scenarios}

    @property
    def config(self) -> g.DeliveryConfig:
        if self._config is None:
            self._config = g.default_delivery_config()
        return self._config

    def render(self, *args: Any, **kwargs: Any) -> Any:
        if self._renderer is not None:
            return self._renderer(*args, **kwargs)
        from chalicelib.delivery import templating

        return templating.render(*args, **kwargs)

    # -- entry points ------------------------------------------------------------------------------------------------
    def handle_queue_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """SQS batch in, `{"batchItemFailures": [...]}` out: a throttled step is retried, the others are deleted."""
        self.last_stats = DeliveryStats()
        failures: list[str] = []
        for record in event.get("Records") or []:
            try:
                message = json.loads(record["body"])
            except (KeyError, ValueError):
                log.error("delivery: unreadable queue message dropped: %.200s", record.get("body"))
                continue
            try:
                self.execute(message)
            except RetryLater as exc:
                log.warning("delivery: step %s will be retried: %s", message, exc)
                failures.append(record["messageId"])
            except Exception:
                log.exception("delivery: step %s failed; the queue retries it, then its DLQ keeps it", message)
                failures.append(record["messageId"])
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failures]}

    def execute(self, message: Mapping[str, Any]) -> None:
        """Execute one step message (and the steps that follow it without a wait)."""
        stats = self.last_stats
        stats.executed += 1
        profile_id, trigger_id, step_index = str(message["p"]), str(message["t"]), int(message["s"])
        if message.get("resend"):
            self._resend(profile_id, trigger_id, step_index)
            return
        now = self.clock.now()
        run = self.runs.get(profile_id, trigger_id)
        if run is None or not run.is_active or run.step_index != step_index or run.due_at > now + EARLY_TOLERANCE:
            stats.stale += 1  # a duplicate, or an early copy of a step the due store will bring back on time
            return
        scenario = self.scenarios.get(run.scenario_id)
        if scenario is None:
            self.runs.save(exit_run(run, "scenario_removed", now), step_index)
            return
        profile = self._profile(profile_id)
        if profile is None:
            self.runs.save(exit_run(run, "profile_gone", now), step_index)
            return
        for _ in range(MAX_STEPS_PER_MESSAGE):
            action = plan_next(scenario, run.step_index, profile, now, context=run.context, variant=run.variant)
            if isinstance(action, EndAction):
                self.runs.save(advance(run, action, now), run.step_index)
                return
            if isinstance(action, WaitAction):
                nxt = advance(run, action, now)
                # Schedule first, then move the run: a crash in between re-executes this step (harmless), while the
                # other order could leave a run waiting for a wake-up that was never written.
                self.schedule(step_message(profile_id, trigger_id, nxt.step_index), action.until, now)
                self.runs.save(nxt, run.step_index)
                return
            assert isinstance(action, SendAction)
            until = self.deliver(scenario, run, action, profile, now)
            if until is not None:  # deferred (quiet hours): same step again at `until`
                self.schedule(step_message(profile_id, trigger_id, run.step_index), until, now)
                self.runs.save(run.model_copy(update={"due_at": until, "updated_at": now}), run.step_index)
                return
            nxt = advance(run, action, now)
            if not self.runs.save(nxt, run.step_index):
                return  # another execution of this step moved the run first
            run = nxt
        log.error("delivery: run %s did more than %d steps in one go", run.run_id, MAX_STEPS_PER_MESSAGE)

    def schedule(self, message: dict[str, Any], until: datetime, now: datetime) -> None:
        if until - now < DUE_STORE_MIN_WAIT:
            self.queue.enqueue([message], delay_seconds=max(0, int((until - now).total_seconds())))
        else:
            self.due.put(until, f"{message['p']}#{message['t']}#{message['s']}", message)

    def release_due(self) -> int:
        """Scheduled every minute: enqueue every step due since the last run (Query only). Returns the count."""
        now = self.clock.now()
        cursor = self.due.cursor() or now - FIRST_READ_LOOKBACK
        if cursor >= now:
            return 0
        batch: list[dict[str, Any]] = []
        count = 0
        for payload in self.due.due(cursor, now):
            batch.append(payload)
            if len(batch) == 10:
                self.queue.enqueue(batch)
                count += len(batch)
                batch = []
        if batch:
            self.queue.enqueue(batch)
            count += len(batch)
        # Only after every due item is on the queue: a crash before this line re-reads (duplicates are dropped).
        self.due.set_cursor(now)
        return count

    def sweep_stuck(self) -> list[dict[str, Any]]:
        """`sending` older than STUCK_AFTER -> `unknown` (alert); returns every unknown record for the report."""
        now = self.clock.now()
        for profile_id, sk in self.messages.attention("sending", now - STUCK_AFTER):
            record = self.messages.get_by_key(profile_id, sk)
            if record is None:
                continue
            moved = self.messages.finish(
                profile_id,
                record["trigger_id"],
                int(record["step_index"]),
                "unknown",
                now,
                reason="crash_window",
                detail="no provider answer recorded; not resent automatically (at most once)",
            )
            if moved:
                log.error(
                    "ALERT delivery: message %s (%s, %s) outcome unknown; check the provider before retrying",
                    record.get("message_id"),
                    record.get("scenario_id"),
                    record.get("channel"),
                )
        unknown = self.messages.attention("unknown", now + timedelta(seconds=1))
        return [r for r in (self.messages.get_by_key(p, s) for p, s in unknown) if r]

    def retry_message(self, profile_id: str, trigger_id: str, step_index: int) -> bool:
        """Operator decision after checking the provider: resend an `unknown` message (guards run again)."""
        now = self.clock.now()
        if not self.messages.finish(
            profile_id, trigger_id, step_index, "retry", now, expect="unknown", reason="operator_retry"
        ):
            return False
        self.queue.enqueue([step_message(profile_id, trigger_id, step_index, resend=True)])
        return True

    # -- one send ---------------------------------------------------------------------------------------------------
    def _profile(self, profile_id: str) -> dict[str, Any] | None:
        stored = self.profiles.get(profile_id)
        if stored is None or not stored.live:
            return None
        profile = stored.document()
        profile["version"] = stored.version
        return profile

    def _resend(self, profile_id: str, trigger_id: str, step_index: int) -> None:
        run = self.runs.get(profile_id, trigger_id)
        profile = self._profile(profile_id)
        scenario = self.scenarios.get(run.scenario_id) if run else None
        if run is None or profile is None or scenario is None:
            return
        now = self.clock.now()
        action = plan_next(scenario, step_index, profile, now, context=run.context, variant=run.variant)
        if isinstance(action, SendAction):
            self.deliver(scenario, run, action, profile, now, resend=True)

    def deliver(
        self,
        scenario: sc.Scenario,
        run: ScenarioRun,
        action: SendAction,
        profile: dict[str, Any],
        now: datetime,
        *,
        resend: bool = False,
    ) -> datetime | None:
        """Guards, render, send behind the message-record gate. Returns the time to try again when deferred."""
        stats = self.last_stats
        step = action.step
        channel = step.channel
        marketing = scenario.marketing if step.marketing is None else step.marketing
        from chalicelib.delivery.adapters.dynamodb_messages import message_id_for  # pure helper, no AWS call

        message_id = message_id_for(run.profile_id, run.trigger_id, action.step_index)
        record: dict[str, Any] = {
            "profile_id": run.profile_id,
            "trigger_id": run.trigger_id,
            "step_index": action.step_index,
            "message_id": message_id,
            "scenario_id": scenario.id,
            "step_id": step.id or str(action.step_index),
            "channel": channel,
            "variant": action.variant_id,
            "template": action.template_id,
            "marketing": marketing,
        }
        existing = self.messages.get(run.profile_id, run.trigger_id, action.step_index)
        if existing is not None and existing.get("status") not in ("deferred", "retry"):
            return None  # already handled (sent, skipped, failed, or in the crash window): never twice

        decision = g.run_guards(self._send_context(scenario, run, action, profile, now, channel), self.config)
        if decision.outcome == "skip":
            status = "holdout" if decision.reason == g.HOLDOUT else "skipped"
            self.messages.claim({**record, "status": status, "reason": decision.reason, "detail": decision.detail}, now)
            if decision.reason == g.SUPPRESSED:
                log.info("delivery: %s skipped for %s: suppressed", scenario.id, run.profile_id)
            stats.skipped += 1
            return None
        if decision.outcome == "defer" and decision.until is not None:
            claimed = self.messages.claim(
                {
                    **record,
                    "status": "deferred",
                    "reason": decision.reason,
                    "detail": decision.detail,
                    "until": iso(decision.until),
                },
                now,
            )
            stats.deferred += int(claimed)
            return decision.until if claimed else None

        try:
            content = self._content(scenario, run, action, profile, channel, marketing, message_id)
        except Exception as exc:  # TemplateRenderError, a missing signing key...: this person's message only
            self.messages.claim({**record, "status": "failed", "reason": "render_error", "detail": str(exc)[:500]}, now)
            stats.failed += 1
            log.warning("delivery: %s for %s not rendered: %s", scenario.id, run.profile_id, exc)
            return None

        if not self.messages.claim({**record, "status": "sending"}, now):
            return None  # a concurrent or duplicate execution owns this message
        try:
            provider_id = self._call_provider(channel, step, profile, content, message_id, scenario, action)
        except ProviderRejected as exc:
            if exc.retryable:
                self.messages.finish(*self._key(run, action), "retry", self.clock.now(), reason=exc.code)
                raise RetryLater(str(exc)) from exc
            self.messages.finish(
                *self._key(run, action), "failed", self.clock.now(), reason=exc.code, detail=str(exc)[:500]
            )
            stats.failed += 1
            return None
        except ProviderOutcomeUnknown as exc:
            if channel == "webhook":  # the receiver dedupes on Idempotency-Key: retrying is safe
                self.messages.finish(*self._key(run, action), "retry", self.clock.now(), reason="timeout")
                raise RetryLater(str(exc)) from exc
            self.messages.finish(
                *self._key(run, action), "unknown", self.clock.now(), reason="outcome_unknown", detail=str(exc)[:500]
            )
            log.error("ALERT delivery: message %s outcome unknown (%s); not resent", message_id, exc)
            return None
        sent_at = self.clock.now()
        cost = self.config.costs.get(channel, 0.0)  # type: ignore[call-overload]
        send_log = None
        if channel in sc.CUSTOMER_CHANNELS:
            send_log = {
                "message_id": message_id,
                "channel": channel,
                "cost": cost,
                "marketing": marketing,
                "scenario_id": scenario.id,
            }
        marked = _persist(
            lambda: self.messages.finish(
                *self._key(run, action),
                "sent",
                sent_at,
                log=send_log,
                provider_id=provider_id,
                sent_at=iso(sent_at),
                subject=content.get("subject", "")[:200],
            )
        )
        if not marked:  # the sweep called it unknown while the provider was slow: the provider has now answered
            _persist(
                lambda: self.messages.finish(
                    *self._key(run, action),
                    "sent",
                    sent_at,
                    expect="unknown",
                    log=send_log,
                    provider_id=provider_id,
                    sent_at=iso(sent_at),
                )
            )
        stats.sent += 1
        if self.on_sent is not None:
            on_sent = self.on_sent
            try:
                _persist(lambda: on_sent({**record, "sent_at": iso(sent_at)}) or True)
            except Exception:  # the mail is out; a lost report increment must not make the queue retry the step
                log.exception("delivery: sent counter for %s not recorded", message_id)
        return None

    @staticmethod
    def _key(run: ScenarioRun, action: SendAction) -> tuple[str, str, int]:
        return run.profile_id, run.trigger_id, action.step_index

    def _send_context(
        self,
        scenario: sc.Scenario,
        run: ScenarioRun,
        action: SendAction,
        profile: dict[str, Any],
        now: datetime,
        channel: str,
    ) -> g.SendContext:
        facts: dict[str, Any] = {}
        if channel in sc.CUSTOMER_CHANNELS and not run.holdout:
            address = sc.email_address(profile) if channel == "email" else sc.phone_number(profile)
            facts["suppressed"] = bool(address) and self.messages.is_suppressed(channel, address or "")
            period = BUDGET_PERIODS.get(self.config.budget.period if self.config.budget else "month", timedelta(30))
            sends = self.messages.sends_since(run.profile_id, now - max(period, timedelta(days=7)))
            day_ago, week_ago = iso(now - timedelta(days=1)), iso(now - timedelta(days=7))
            counted = [s for s in sends if s.get("channel") == channel and s.get("marketing", True)]
            facts["sent_today"] = sum(1 for s in counted if s["sk"][4:] >= day_ago)
            facts["sent_this_week"] = sum(1 for s in counted if s["sk"][4:] >= week_ago)
            facts["spend_so_far"] = float(sum(float(s.get("cost", 0)) for s in sends if s.get("marketing", True)))
        if self.preferences is not None and channel in sc.CUSTOMER_CHANNELS and not run.holdout:
            profile = apply_preferences(profile, self.preferences(run.profile_id), channel)
        if scenario.exit and not run.holdout:
            history = self.events.history(run.profile_id, limit=100)
            facts["events_since"] = [e for e in history if e.timestamp > run.entered_at]
        return g.send_context_for(scenario, run, action, profile, now, **facts)

    def _content(
        self,
        scenario: sc.Scenario,
        run: ScenarioRun,
        action: SendAction,
        profile: dict[str, Any],
        channel: str,
        marketing: bool,
        message_id: str,
    ) -> dict[str, Any]:
        step = action.step
        extra: dict[str, Any] = {"currency": self.config.currency, **step.params, "message_id": message_id}
        if "coupon_code" in step.needs:
            extra["coupon_code"] = coupon_code(scenario.id, run.profile_id, self.links.signing_key)
        if "related_products" in step.needs and self.related is not None:
            extra["related_products"] = self._related(profile, run)
        token = ""
        if marketing and channel in sc.CUSTOMER_CHANNELS:
            token = self.links.unsubscribe_token(run.profile_id, channel, scenario.topic, message_id)
            extra["unsubscribe_url"] = f"{self.links.public_base_url}/u/{token}"
            extra["preferences_url"] = f"{self.links.public_base_url}/preferences/{token}"
        if channel == "webhook":
            return {
                "token": token,
                "payload": {
                    "profile": profile,
                    "scenario": scenario.id,
                    "message_id": message_id,
                    "step": step.id,
                    "context": run.context,
                },
            }
        rendered = self.render(action.template_id, profile, extra, channel=channel, marketing=marketing)
        html = rendered.html
        if html and channel == "email" and marketing and self._keyring() is not None:
            html = self._track_links(html, run.profile_id, message_id)
        return {
            "token": token,
            "subject": rendered.subject,
            "html": html,
            "text": rendered.text,
            "sms": rendered.sms,
        }

    def _keyring(self) -> Any:
        """The link keyring; a factory is called at first use (in AWS it reads the signing secret)."""
        ring = self.link_keyring
        return ring() if callable(ring) else ring

    def _track_links(self, html: str, profile_id: str, message_id: str) -> str:
        """Click links and the open pixel (ours, signed); unsubscribe and preference links stay direct."""
        from chalicelib.engagement import tokens as lt
        from chalicelib.engagement.link_rewrite import rewrite_html

        base = self.links.public_base_url
        ring = self._keyring()

        def click(url: str) -> str:
            return f"{base}/t/c/{lt.issue(ring, 'click', lt.LinkPayload(message_id, profile_id, url=url))}"

        pixel = f"{base}/t/o/{lt.issue(ring, 'open', lt.LinkPayload(message_id, profile_id))}.gif"
        return rewrite_html(html, click, pixel, keep_prefixes=(f"{base}/u/", f"{base}/preferences/"))

    def _related(self, profile: dict[str, Any], run: ScenarioRun) -> list[dict[str, Any]]:
        assert self.related is not None
        bought = [str(run.context.get("product_id"))] if run.context.get("product_id") else []
        bought += [str(p.get("product_id")) for p in sc.viewed_products(profile)[:3]]
        in_cart = {str(i.get("product_id")) for i in sc.cart_items(profile)}
        return self.related.related([b for b in bought if b], exclude=set(bought) | in_cart)

    def _call_provider(
        self,
        channel: str,
        step: Any,
        profile: dict[str, Any],
        content: dict[str, Any],
        message_id: str,
        scenario: sc.Scenario,
        action: SendAction,
    ) -> str:
        if channel == "email":
            headers = {"X-One2One-Message-Id": message_id}
            if content["token"]:
                headers["List-Unsubscribe"] = (
                    f"<{self.links.public_base_url}/u/{content['token']}>, "
                    f"<mailto:{self.links.unsubscribe_mailto}?subject={content['token']}>"
                )
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            tags = {
                "scenario": scenario.id,
                "step": step.id or str(action.step_index),
                "variant": action.variant_id or "none",
                "message_id": message_id,
                # SES feedback finds the message record by (profile, message id); a pseudonymous id, no address.
                "profile": sc.profile_id(profile),
            }
            email = OutgoingEmail(
                to=sc.email_address(profile) or "",
                subject=content["subject"],
                html=content["html"] or "",
                text=content["text"] or "",
                message_id=message_id,
                tags=tags,
                headers=headers,
            )
            return self.email.send(email)
        if channel == "sms":
            return self.notifier.send_sms(sc.phone_number(profile) or "", content["sms"] or "", message_id)
        if channel == "sales_alert":
            attributes = {"scenario": scenario.id, "profile_id": sc.profile_id(profile), "message_id": message_id}
            return self.notifier.publish(step.topic or "", content["subject"], content["text"] or "", attributes)
        if channel == "webhook":
            return self.webhook.post(step.url or "", content["payload"], idempotency_key=message_id)
        raise ProviderRejected("UnknownChannel", channel, retryable=False)


def _persist(write: Callable[[], bool], attempts: int = OUTCOME_WRITE_ATTEMPTS) -> bool:
    """Record what the provider answered, retrying a failed write in place.

    Once SES or SNS has accepted a message this write is the only trace of it: if it fails, the step is retried from
    the queue, finds the record still `sending`, sends nothing (never twice) and the sweep reports it `unknown`. A few
    quick retries here close most of that window (botocore has already retried inside each attempt).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    for attempt in range(attempts):
        try:
            return write()
        except (BotoCoreError, ClientError) as exc:
            if attempt == attempts - 1:
                raise
            log.warning("delivery: outcome write failed (%s); retrying", type(exc).__name__)
            time.sleep(OUTCOME_WRITE_BACKOFF_SECONDS * 2**attempt)
    raise AssertionError("unreachable")
