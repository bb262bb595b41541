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

import json
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib.catalog import CatalogStore
from chalicelib.delivery import guards as g
from chalicelib.delivery.exceptions import RetryLater
from chalicelib.delivery.pacing import SendPacer, SendRateExceeded
from chalicelib.delivery.ports import (
    DueStore,
    EmailSender,
    InAppInbox,
    MessageRecord,
    MessageStore,
    Notifier,
    PushSender,
    PushTokens,
    RelatedProducts,
    RunStore,
    StepQueue,
    WebhookCaller,
)
from chalicelib.delivery.sending import (
    DeliveryStats,
    SendPath,
    apply_preferences,
    message_id_for,
)
from chalicelib.engagement.links import LinkSettings
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
from chalicelib.tracking.ports import EventStore
from chalicelib.tracking.sources import Source

__all__ = ["DeliveryService", "DeliveryStats", "RetryLater", "apply_preferences", "message_id_for", "step_message"]

log = logging.getLogger("one2one")

STUCK_AFTER = timedelta(minutes=10)
# Waits shorter than this go to SQS with a delay; longer ones to the due store, whose reader runs every minute and
# only ever reads items due after its cursor, so an item is always written well ahead of the cursor reaching it.
DUE_STORE_MIN_WAIT = timedelta(seconds=60)
EARLY_TOLERANCE = timedelta(seconds=5)
MAX_STEPS_PER_MESSAGE = 20
FIRST_READ_LOOKBACK = timedelta(hours=6)
PAUSED_RECHECK = timedelta(minutes=10)  # a paused broadcast's step comes back this often until it is resumed


class UnreadableStep(ValueError):
    """A queue message that is not a step (retrying cannot fix it: it is logged and dropped)."""


def step_message(profile_id: str, trigger_id: str, step_index: int, **extra: Any) -> dict[str, Any]:
    return {"p": profile_id, "t": trigger_id, "s": step_index, **extra}


def parse_step(body: str) -> Any:
    """The step message of one queue message body (JSON). Raises UnreadableStep."""
    try:
        return json.loads(body)
    except (TypeError, ValueError) as exc:
        raise UnreadableStep(str(exc)) from exc


class DeliveryService(SendPath):
    """Executes run steps from the queue, releases due waits, sweeps stuck sends (the send itself: `SendPath`)."""

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
        scenarios: list[sc.Scenario] | Callable[[], Sequence[sc.Scenario]] | None = None,
        scenario_at: Callable[[str, int], sc.Scenario | None] | None = None,
        config: g.DeliveryConfig | None = None,
        renderer: Callable[..., Any] | None = None,
        on_sent: Callable[[MessageRecord], None] | None = None,
        on_skipped: Callable[[MessageRecord], None] | None = None,
        preferences: Callable[[str], dict[str, dict[str, str]]] | None = None,
        pacer: SendPacer | None = None,
        rng: random.Random | None = None,
        catalog: CatalogStore | None = None,
        sources: Callable[[], list[Source]] | None = None,
        gate: Callable[[str], str] | None = None,
        lookup: Callable[[str], sc.Scenario | None] | None = None,
        push: PushSender | None = None,
        push_tokens: PushTokens | None = None,
        inbox: InAppInbox | None = None,
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
        # A run executes the scenario version it started on; older versions are read through this (immutable, cached).
        self._scenario_at = scenario_at
        self._config = config
        self._renderer = renderer
        # Optional so tests can build the service without them: the report counter hook, and the direct opt-outs
        # written by the unsubscribe / preference pages.
        self.on_sent = on_sent
        self.on_skipped = on_skipped
        self.preferences = preferences
        # The sending rate shared by every container (None: unlimited, e.g. a test that is not about the rate).
        self.pacer = pacer
        self._rng = rng or random.Random()  # noqa: S311 - jitter of paced retries
        self.catalog = catalog
        self.sources = sources
        # scenario id -> `go`, `hold` (a paused broadcast: the step waits) or `drop` (a cancelled one: the run ends).
        self.gate = gate
        self.lookup = lookup  # scenarios that are not definitions (a broadcast's `bc-<id>`)
        self.push = push  # mobile push through SNS (None: not configured)
        self.push_tokens = push_tokens
        self.inbox = inbox  # channel `in_app`: the person's in-app state
        self.last_stats = DeliveryStats()

    @property
    def scenarios(self) -> dict[str, sc.Scenario]:
        if callable(self._scenarios):  # the effective definitions, cached and refreshed by their provider
            return {s.id: s for s in self._scenarios()}
        if self._scenarios is None:
            from chalicelib.delivery import templating
            from chalicelib.scenarios.loader import TemplateCatalog, load_packaged_scenarios

            catalog = TemplateCatalog(known=templating.known_templates(), channels=templating.template_channels())
            self._scenarios = load_packaged_scenarios(catalog)
        return {s.id: s for s in self._scenarios}

    def scenario_for(self, run: ScenarioRun) -> sc.Scenario | None:
        """The scenario version `run` started on: the current one when it is that version (or the run predates
        versions), else that version read from the definitions store; None when neither exists any more."""
        current = self.scenarios.get(run.scenario_id)
        if current is None and self.lookup is not None:
            current = self.lookup(run.scenario_id)
        wanted = run.scenario_version
        if wanted is None or self._scenario_at is None:
            return current
        if current is not None and current.definition_version == wanted:
            return current
        return self._scenario_at(run.scenario_id, wanted) or current

    def start_batch(self) -> DeliveryStats:
        """Fresh counters for one queue batch (`last_stats`)."""
        self.last_stats = DeliveryStats()
        return self.last_stats

    def execute_step(self, body: str) -> None:
        """One queue message: parse and execute it. Raises RetryLater when the provider was throttled (the queue
        retries it); an unreadable message is logged and dropped (retrying cannot fix it).

        Example (the queue handler, once per record): `service.execute_step(record.body)`."""
        try:
            message = parse_step(body)
        except UnreadableStep:
            log.error("delivery: unreadable queue message dropped: %.200s", body)
            return
        self.execute(message)

    def execute(self, message: Mapping[str, Any]) -> None:
        """Execute one step message (and the steps that follow it without a wait)."""
        stats = self.last_stats
        stats.executed += 1
        profile_id, trigger_id, step_index = str(message["p"]), str(message["t"]), int(message["s"])
        if self.pacer is not None and "c" in message:
            # A step paced before names its channel: while this container knows that window is full, it goes back
            # to the queue without a single read.
            seconds_left = self.pacer.known_full(str(message["c"]), bool(message.get("k", 1)))
            if seconds_left is not None:
                self._pace(message, SendRateExceeded(str(message["c"]), bool(message.get("k", 1)), seconds_left))
                return
        if message.get("resend"):
            try:
                self._resend(profile_id, trigger_id, step_index)
            except SendRateExceeded as exc:
                self._pace(message, exc)
            return
        now = self.clock.now()
        run = self.runs.get(profile_id, trigger_id)
        if run is None or not run.is_active or run.step_index != step_index or run.due_at > now + EARLY_TOLERANCE:
            stats.stale += 1  # a duplicate, or an early copy of a step the due store will bring back on time
            return
        verdict = self.gate(run.scenario_id) if self.gate is not None else "go"
        if verdict == "hold":
            recheck = now + PAUSED_RECHECK
            self.schedule(step_message(profile_id, trigger_id, step_index), recheck, now)
            self.runs.save(run.model_copy(update={"due_at": recheck, "updated_at": now}), step_index)
            return
        if verdict == "drop":
            self.runs.save(exit_run(run, "cancelled", now), step_index)
            return
        scenario = self.scenario_for(run)
        if scenario is None:
            self.runs.save(exit_run(run, "scenario_removed", now), step_index)
            return
        profile = self._profile(profile_id)
        if profile is None:
            self.runs.save(exit_run(run, "profile_gone", now), step_index)
            return
        for _ in range(MAX_STEPS_PER_MESSAGE):
            context = self.plan_context(scenario, run)
            action = plan_next(scenario, run.step_index, profile, now, context=context, variant=run.variant)
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
            try:
                until = self.deliver(scenario, run, action, profile, now)
            except SendRateExceeded as exc:  # nothing written for this step: it comes back in a later window
                attempt = {"w": message.get("w", 0)} if run.step_index == step_index else {}
                self._pace(step_message(profile_id, trigger_id, run.step_index, **attempt), exc)
                return
            if until is not None:  # deferred (quiet hours): same step again at `until`
                self.schedule(step_message(profile_id, trigger_id, run.step_index), until, now)
                self.runs.save(run.model_copy(update={"due_at": until, "updated_at": now}), run.step_index)
                return
            nxt = advance(run, action, now)
            if not self.runs.save(nxt, run.step_index):
                return  # another execution of this step moved the run first
            run = nxt
        log.error("delivery: run %s did more than %d steps in one go", run.run_id, MAX_STEPS_PER_MESSAGE)

    def _pace(self, message: Mapping[str, Any], exc: SendRateExceeded) -> None:
        """Send a step that found no sending slot back to the queue with a delay (not a queue retry: those count
        towards the dead-letter queue's 5 receives, and a broadcast may wait many windows). Enqueued before this
        queue message is deleted, so a crash leaves two copies at worst, and the message-record gate sends once."""
        attempt = int(message.get("w", 0))
        delay = exc.delay_seconds(attempt, self.config.max_pacing_delay_seconds, self._rng)
        again = {**message, "w": attempt + 1, "c": exc.channel, "k": int(exc.marketing)}
        self.queue.enqueue([again], delay_seconds=delay)
        self.last_stats.paced += 1

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

    def sweep_stuck(self) -> list[MessageRecord]:
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
        scenario = self.scenario_for(run) if run else None
        if run is None or profile is None or scenario is None:
            return
        now = self.clock.now()
        action = plan_next(scenario, step_index, profile, now, context=run.context, variant=run.variant)
        if isinstance(action, SendAction):
            self.deliver(scenario, run, action, profile, now, resend=True)
