"""The send path of one step: guards with real counts, render, the message-record gate and the provider call.

`DeliveryService` (delivery/steps.py) executes run steps and inherits this; the exactly-once rules it enforces (the
record is claimed `sending` before the provider call, `sent` with the send log in one transaction after, never resent
automatically from the crash window) are told in full at the top of `delivery/steps.py`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.catalog import CatalogStore
from chalicelib.delivery import guards as g
from chalicelib.delivery import send_time as sto
from chalicelib.delivery.exceptions import RetryLater
from chalicelib.delivery.pacing import SendPacer
from chalicelib.delivery.ports import (
    EmailSender,
    InAppInbox,
    MessageRecord,
    MessageStore,
    Notifier,
    OutgoingEmail,
    ProviderOutcomeUnknown,
    ProviderRejected,
    PushSender,
    PushTokens,
    RelatedProducts,
    WebhookCaller,
)
from chalicelib.delivery.push import PushTooLarge, check_limits
from chalicelib.engagement.links import LinkSettings
from chalicelib.profiles import view
from chalicelib.profiles.devices import push_targets
from chalicelib.scenarios import definitions as sc
from chalicelib.scenarios.engine import ScenarioRun, SendAction
from chalicelib.shared.clock import Clock
from chalicelib.tracking.events import iso
from chalicelib.tracking.ports import EventStore
from chalicelib.tracking.sources import Source

log = logging.getLogger("one2one")

OUTCOME_WRITE_ATTEMPTS = 4  # the provider-accepted write: 3 retries, 0.1 + 0.2 + 0.4 s at most
OUTCOME_WRITE_BACKOFF_SECONDS = 0.1
# The human engagements with a run's message that `fact.message_opened` looks for (their `message_id` property).
ENGAGEMENT_EVENTS = frozenset({"Email Opened", "Email Link Clicked", "SMS Link Clicked"})
ENGAGEMENT_HISTORY = 200
BUDGET_PERIODS = {"month": timedelta(days=30), "quarter": timedelta(days=91), "year": timedelta(days=365)}


def message_id_for(profile_id: str, trigger_id: str, step_index: int) -> str:
    """Short stable id of one message (tags, outbox, logs): the same step of the same run always gets the same id."""
    digest = hashlib.sha256(f"{profile_id}\x1f{trigger_id}\x1f{step_index}".encode()).hexdigest()
    return f"m{digest[:24]}"


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


@dataclass
class DeliveryStats:
    executed: int = 0
    sent: int = 0
    skipped: int = 0
    deferred: int = 0
    failed: int = 0
    stale: int = 0
    paced: int = 0  # sent back to the queue for a later window (the sending rate)


class SendPath:
    """Sends one planned step of one run. The ports are set by `DeliveryService.__init__`."""

    messages: MessageStore
    events: EventStore
    email: EmailSender
    notifier: Notifier
    webhook: WebhookCaller
    related: RelatedProducts | None
    clock: Clock
    links: LinkSettings
    on_sent: Callable[[MessageRecord], None] | None
    on_skipped: Callable[[MessageRecord], None] | None = None  # counted per reason in the reports
    preferences: Callable[[str], dict[str, dict[str, str]]] | None
    pacer: SendPacer | None
    last_stats: DeliveryStats
    _config: g.DeliveryConfig | None
    _renderer: Callable[..., Any] | None
    # The catalog is authoritative for product name, price, URL, image and stock: read at send time (one
    # BatchGetItem per message, only for products the message can show), never in the fold.
    catalog: CatalogStore | None = None
    # Every source key record (cached by the adapter): where cards and buttons link back to (delivery/shop_links.py).
    sources: Callable[[], list[Source]] | None = None
    # Mobile push (None: the channel is not configured; a push step then fails `push_not_configured`).
    push: PushSender | None = None
    push_tokens: PushTokens | None = None
    inbox: InAppInbox | None = None  # channel `in_app`

    def plan_context(self, scenario: sc.Scenario, run: ScenarioRun) -> Mapping[str, Any]:
        """The run context a step is planned with: when a split asks `fact.message_opened`, whether a human opened or
        clicked a message of this run (one history read, only for such scenarios; never stored in the run)."""
        from chalicelib.scenarios.conditions import ENGAGED_CONTEXT_KEY

        asks = any(
            isinstance(step, sc.SplitStep) and any(c.field == "fact.message_opened" for c in step.conditions)
            for step in scenario.steps
        )
        if not asks:
            return run.context
        mine = {message_id_for(run.profile_id, run.trigger_id, index) for index, _ in scenario.send_steps()}
        history = self.events.history(run.profile_id, limit=ENGAGEMENT_HISTORY)
        opened = any(e.event in ENGAGEMENT_EVENTS and e.properties.get("message_id") in mine for e in history)
        return {**run.context, ENGAGED_CONTEXT_KEY: opened}

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
        message_id = message_id_for(run.profile_id, run.trigger_id, action.step_index)
        record: MessageRecord = {
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

        context = self._send_context(scenario, run, action, profile, now, channel)
        timing = None if resend else self._send_time(scenario, run, step, context, existing)
        if timing is not None:
            record["sto"] = timing.arm
        decision = g.run_guards(context, self.config)
        if timing is not None and timing.until is not None and decision.outcome != "skip":
            # The send-time step sits before quiet hours: the later of the two deferrals wins, and the message is
            # marked as deferred for its send time (the next time it comes due it goes, guards permitting).
            record["sto_until"] = iso(timing.until)
            if decision.outcome == "allow" or (decision.until is not None and timing.until > decision.until):
                local = timing.until.astimezone(g.recipient_timezone(context.profile, self.config))
                decision = g.defer(timing.until, sto.SEND_TIME, f"best local hour {local:%H}:00 for this person")
        if decision.outcome == "skip":
            status = "holdout" if decision.reason == g.HOLDOUT else "skipped"
            self.messages.claim({**record, "status": status, "reason": decision.reason, "detail": decision.detail}, now)
            if status == "skipped" and self.on_skipped is not None:
                on_skipped = self.on_skipped  # idempotent per message (a fact marker), so a replay counts nothing
                _persist(lambda: on_skipped({**record, "status": status, "reason": decision.reason}) or True)
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

        targets: list[dict[str, Any]] = []
        if channel == "push":
            targets = self._push_targets(profile, marketing)
            if not targets:  # every device with permission was retired since the guards looked: nothing to send to
                self.messages.claim({**record, "status": "skipped", "reason": g.SUPPRESSED, "detail": "push"}, now)
                stats.skipped += 1
                return None
        if self.pacer is not None:
            # Before anything is written: a send with no slot goes back to the queue (SendRateExceeded) untouched.
            # A push takes one slot per device: the limit is SNS's, and each device is one Publish.
            for _ in range(max(1, len(targets))):
                self.pacer.acquire(channel, marketing)
        try:
            content = self._content(scenario, run, action, profile, channel, marketing, message_id)
            content["targets"] = targets
        except PushTooLarge as exc:
            self.messages.claim({**record, "status": "failed", "reason": "payload_too_large", "detail": str(exc)}, now)
            stats.failed += 1
            return None
        except Exception as exc:  # TemplateRenderError, a missing signing key...: this person's message only
            from chalicelib.shared.faults import is_transient

            if is_transient(exc):
                raise  # a catalog or key read failed, not the template: nothing is claimed yet, the step is retried
            self.messages.claim({**record, "status": "failed", "reason": "render_error", "detail": str(exc)[:500]}, now)
            stats.failed += 1
            log.warning("delivery: %s for %s not rendered: %s", scenario.id, run.profile_id, exc)
            return None

        if channel == "push":
            # Each device's SNS endpoint is found or created before the claim: it sends nothing, so a storage or
            # SNS fault here leaves no record behind and the step is simply retried (no crash window to sweep).
            try:
                content["targets"] = self._prepare_push(targets)
            except ProviderRejected as exc:
                if exc.retryable:
                    raise RetryLater(str(exc)) from exc
                self.messages.claim({**record, "status": "failed", "reason": exc.code, "detail": str(exc)[:500]}, now)
                stats.failed += 1
                return None
        if not self.messages.claim({**record, "status": "sending"}, now):
            return None  # a concurrent or duplicate execution owns this message
        try:
            provider_id = self._call_provider(channel, step, profile, content, message_id, scenario, action)
        except ProviderRejected as exc:
            if exc.code == "EndpointDisabled" and channel == "push":  # every device's token retired just now
                self.messages.finish(
                    *self._key(run, action), "skipped", self.clock.now(), reason=g.ENDPOINT_DISABLED, detail=str(exc)
                )
                if self.on_skipped is not None:
                    on_skipped = self.on_skipped
                    _persist(lambda: on_skipped({**record, "status": "skipped", "reason": g.ENDPOINT_DISABLED}) or True)
                stats.skipped += 1
                return None
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
        cost = self.config.costs.get(channel, 0.0)
        send_log = None
        if channel in sc.CUSTOMER_CHANNELS:
            send_log = {
                "message_id": message_id,
                "channel": channel,
                "cost": cost,
                "marketing": marketing,
                "scenario_id": scenario.id,
                "topic": scenario.topic,
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

    def _send_time(
        self,
        scenario: sc.Scenario,
        run: ScenarioRun,
        step: sc.SendStep,
        context: g.SendContext,
        existing: MessageRecord | None,
    ) -> sto.SendTimePlan | None:
        """The step's send-time plan (None: not optimised). Holdout runs send nothing, so they have no arm."""
        if step.send_time is None or run.holdout or step.channel not in sc.CUSTOMER_CHANNELS:
            return None
        config = self.config
        tz = g.recipient_timezone(context.profile, config)

        def outside_quiet_hours(at: datetime) -> bool:
            return g.check_quiet_hours(dataclasses.replace(context, now=at), config).allowed

        return sto.plan(
            step.send_time,
            scenario_id=scenario.id,
            run_id=run.run_id,
            profile=context.profile,
            channel=step.channel,
            now=context.now,
            tz=tz,
            deferred_before=existing is not None and bool(existing.get("sto_until")),
            allowed=outside_quiet_hours,
        )

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
        if channel == "push" and not run.holdout:
            tokens = {d["token"] for d in push_targets(profile, marketing=False)}
            facts["suppressed"] = bool(tokens) and self._retired(tokens) >= tokens
        if channel in sc.CUSTOMER_CHANNELS and not run.holdout:
            if channel != "push":
                address = view.email_address(profile) if channel == "email" else view.phone_number(profile)
                facts["suppressed"] = bool(address) and self.messages.is_suppressed(channel, address or "")
            period = BUDGET_PERIODS.get(self.config.budget.period if self.config.budget else "month", timedelta(30))
            # 8 days: a calendar week starts at most 7 days before now, plus a day of time-zone offset.
            sends = self.messages.sends_since(run.profile_id, now - max(period, timedelta(days=8)))
            tz = g.recipient_timezone(profile, self.config)
            facts.update(g.count_sends(sends, channel, scenario.topic, now, tz, self.config))
            facts["spend_so_far"] = float(sum(float(s.get("cost", 0)) for s in sends if s.get("marketing", True)))
        if self.preferences is not None and channel in sc.CUSTOMER_CHANNELS and not run.holdout:
            profile = apply_preferences(profile, self.preferences(run.profile_id), channel)
        if scenario.exit and not run.holdout:
            merged = [str(p) for p in profile.get("merged_from") or ()]
            history = self.events.history(run.profile_id, limit=100, merged_from=merged)
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
        if channel == "in_app":  # the in-app message is the content: nothing to render
            return {"token": "", "subject": action.template_id or ""}
        from chalicelib.delivery.shop_links import shop_links

        site = shop_links(
            self.sources() if self.sources is not None else [],
            run.context.get("source_id"),
            context=run.context,
            fallback_shop_url=self.config.shop_url,
        )
        extra: dict[str, Any] = {
            "currency": self.config.currency,
            "default_locale": self.config.default_locale,
            **site,
            **step.params,
            "message_id": message_id,
        }
        if "coupon_code" in step.needs:
            extra["coupon_code"] = self.links.coupon_code(scenario.id, run.profile_id)
        if "related_products" in step.needs and self.related is not None:
            extra["related_products"] = self._related(profile, run)
        if self.catalog is not None and channel != "webhook":
            extra.update(self._catalog_context(profile, run, extra.get("related_products") or []))
        token = ""
        if marketing and channel in sc.CUSTOMER_CHANNELS:
            token = self.links.unsubscribe_token(run.profile_id, channel, scenario.topic, message_id)
            extra["unsubscribe_url"] = self.links.unsubscribe_url(token)
            extra["preferences_url"] = self.links.preferences_url(token)
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
        if channel == "push":
            check_limits(rendered.push, message_id)  # a variable rendered long: this message fails, nothing is sent
            return {"token": token, "subject": rendered.push.title, "push": rendered.push, "text": rendered.push.body}
        html = rendered.html
        if html and channel == "email" and marketing and self.links.tracking():
            html = self.links.track_links(html, run.profile_id, message_id, self.clock.now())
        return {
            "token": token,
            "subject": rendered.subject,
            "html": html,
            "text": rendered.text,
            "sms": rendered.sms,
        }

    def _catalog_context(
        self, profile: dict[str, Any], run: ScenarioRun, related: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """`catalog` (product id -> the catalog's fields, which templates prefer over what events said) and `product`
        (the run's product: the catalog's when it has it, else what the run remembered)."""
        assert self.catalog is not None
        from chalicelib.delivery.templating import MAX_LISTED_PRODUCTS, catalog_fields

        wanted = [str(run.context["product_id"])] if run.context.get("product_id") else []
        wanted += [str(i.get("product_id")) for i in view.cart_items(profile)]
        wanted += [str(i.get("product_id")) for i in view.viewed_products(profile)[: MAX_LISTED_PRODUCTS * 2]]
        wanted += [str(i.get("product_id")) for i in related if isinstance(i, dict)]
        ids = [i for i in dict.fromkeys(wanted) if i and i != "None"]
        products = {pid: catalog_fields(p) for pid, p in self.catalog.get_many(ids).items()} if ids else {}
        out: dict[str, Any] = {"catalog": products}
        pid = run.context.get("product_id")
        if pid is not None:
            remembered = {k: v for k, v in run.context.items() if k in ("product_id", "name", "price", "currency")}
            if "url" in run.context:
                remembered["url"] = run.context["url"]
            if "image" in run.context:
                remembered["image_url"] = run.context["image"]
            out["product"] = {**remembered, **products.get(str(pid), {})}
        return out

    def _related(self, profile: dict[str, Any], run: ScenarioRun) -> list[dict[str, Any]]:
        assert self.related is not None
        bought = [str(run.context.get("product_id"))] if run.context.get("product_id") else []
        bought += [str(p.get("product_id")) for p in view.viewed_products(profile)[:3]]
        in_cart = {str(i.get("product_id")) for i in view.cart_items(profile)}
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
                headers.update(self.links.list_unsubscribe_headers(content["token"]))
            tags = {
                "scenario": scenario.id,
                "step": step.id or str(action.step_index),
                "variant": action.variant_id or "none",
                "message_id": message_id,
                # SES feedback finds the message record by (profile, message id); a pseudonymous id, no address.
                "profile": view.profile_id(profile),
            }
            email = OutgoingEmail(
                to=view.email_address(profile) or "",
                subject=content["subject"],
                html=content["html"] or "",
                text=content["text"] or "",
                message_id=message_id,
                tags=tags,
                headers=headers,
            )
            return self.email.send(email)
        if channel == "sms":
            return self.notifier.send_sms(view.phone_number(profile) or "", content["sms"] or "", message_id)
        if channel == "sales_alert":
            attributes = {"scenario": scenario.id, "profile_id": view.profile_id(profile), "message_id": message_id}
            return self.notifier.publish(step.topic or "", content["subject"], content["text"] or "", attributes)
        if channel == "webhook":
            return self.webhook.post(step.url or "", content["payload"], idempotency_key=message_id)
        if channel == "push":
            return self._send_push(content["push"], content["targets"], message_id)
        if channel == "in_app":
            if self.inbox is None:
                raise ProviderRejected("NoInAppInbox", "in-app messages are not configured", retryable=False)
            record = {
                "scenario_id": scenario.id,
                "step_id": step.id or str(action.step_index),
                "variant": action.variant_id,
                "message_id": message_id,
            }
            try:
                return self.inbox.deliver(view.profile_id(profile), action.template_id or "", record)  # type: ignore[arg-type]
            except KeyError as exc:
                raise ProviderRejected("UnknownInAppMessage", str(exc), retryable=False) from exc
        raise ProviderRejected("UnknownChannel", channel, retryable=False)

    # -- push ------------------------------------------------------------------------------------------------------
    def _retired(self, tokens: set[str]) -> set[str]:
        return self.push_tokens.retired(tokens) if self.push_tokens is not None and tokens else set()

    def _push_targets(self, profile: dict[str, Any], marketing: bool) -> list[dict[str, Any]]:
        """The devices this message goes to: live, with permission (marketing) or not withdrawn, not retired."""
        devices = push_targets(profile, marketing=marketing)
        retired = self._retired({d["token"] for d in devices})
        return [d for d in devices if d["token"] not in retired]

    def _prepare_push(self, targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each target with its platform `endpoint`; a device SNS refuses to register is left out (logged)."""
        if self.push is None:
            raise ProviderRejected("PushNotConfigured", "no push platform application is configured", retryable=False)
        ready: list[dict[str, Any]] = []
        first_error: ProviderRejected | None = None
        for device in targets:
            try:
                ready.append({**device, "endpoint": self.push.endpoint(device)})
            except ProviderRejected as exc:
                if exc.retryable:
                    raise
                first_error = first_error or exc
                log.warning("delivery: push device not registered with SNS: %s", exc)
        if not ready:
            raise first_error or ProviderRejected("PushFailed", "no device could be registered", retryable=False)
        return ready

    def _send_push(self, push: Any, targets: list[dict[str, Any]], message_id: str) -> str:
        """One Publish per device, inside the message record's `sending` claim: a crash or retry after any of them
        finds the record claimed and sends nothing again (at most once per device, as for email).

        A device whose endpoint SNS disabled is retired at once (and its endpoint deleted); the others still get
        the message. Only when no device took it does the error decide the message's outcome."""
        if self.push is None:
            raise ProviderRejected("PushNotConfigured", "no push platform application is configured", retryable=False)
        sent: list[str] = []
        first_error: ProviderRejected | None = None
        disabled = 0
        for device in targets:
            try:
                sent.append(self.push.send(device, push, message_id))
            except ProviderRejected as exc:
                if exc.code == "EndpointDisabled":
                    disabled += 1
                    self._retire(device["token"], exc)
                    continue
                if not sent and exc.retryable:
                    raise  # nothing went out yet: the whole message may safely be tried again
                first_error = first_error or exc
                log.warning("delivery: push %s to one device refused: %s", message_id, exc)
            except ProviderOutcomeUnknown:
                if not sent:
                    raise  # maybe out: the record becomes `unknown`, never resent
                log.error("delivery: push %s to one device: outcome unknown; not resent", message_id)
        if sent:
            return ",".join(sent)[:1000]
        if disabled == len(targets):
            raise ProviderRejected("EndpointDisabled", f"{disabled} device token(s) retired", retryable=False)
        raise first_error or ProviderRejected("PushFailed", "no device accepted the message", retryable=False)

    def _retire(self, token: str, exc: Exception) -> None:
        if self.push is not None:  # first, while the endpoint's ARN is still on record
            try:
                self.push.forget(token)
            except Exception:  # noqa: BLE001 - the retirement is what matters; a stale endpoint is harmless
                log.warning("delivery: endpoint of a retired token not deleted", exc_info=True)
        if self.push_tokens is not None:
            self.push_tokens.retire(token, "endpoint_disabled", self.clock.now())
        log.info("delivery: push token retired (%s)", exc)


def _persist(write: Callable[[], bool], attempts: int = OUTCOME_WRITE_ATTEMPTS) -> bool:
    """Record what the provider answered, retrying a failed write in place.

    Once SES or SNS has accepted a message this write is the only trace of it: if it fails, the step is retried from
    the queue, finds the record still `sending`, sends nothing (never twice) and the sweep reports it `unknown`. A few
    quick retries here close most of that window (botocore has already retried inside each attempt).
    """
    from chalicelib.shared.faults import storage_failure_types

    for attempt in range(attempts):
        try:
            return write()
        except storage_failure_types() as exc:
            if attempt == attempts - 1:
                raise
            log.warning("delivery: outcome write failed (%s); retrying", type(exc).__name__)
            time.sleep(OUTCOME_WRITE_BACKOFF_SECONDS * 2**attempt)
    raise AssertionError("unreachable")
