"""In-app use cases: the fetch (what a visitor may see now), folding views/clicks/dismissals into the person's state
and the reports, and a scenario step putting a message in front of someone.

The fetch reads at most two items in the usual case: the visitor's profile (which knows its segments and the latest
time of each event, which is when an event-triggered message went up; one BatchGetItem through the personalisation
wing's visitor lookup) and the person's in-app state (one GetItem). The definitions come from an in-container cache
(`definitions.effective.EffectiveCache`), so they cost no read. A trigger event writes nothing here: the fold keeps
its time in the profile it writes anyway (a state item write per view was ~$0.08 per million events).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.engagement.recorder import row_key
from chalicelib.inapp.model import InAppMessage, parse_period
from chalicelib.inapp.ports import InAppStateStore, ReportCounter
from chalicelib.inapp.rules import eligible
from chalicelib.inapp.state import InAppState, Triggered
from chalicelib.profiles.view import last_event_times
from chalicelib.shared.clock import Clock
from chalicelib.tracking.events import TrackedEvent, iso

if TYPE_CHECKING:
    from chalicelib.profiles.ports import StoredProfile

log = logging.getLogger("one2one")

CHANNEL = "in_app"
VIEWED = "In-App Message Viewed"
CLICKED = "In-App Message Clicked"
DISMISSED = "In-App Message Dismissed"
FEEDBACK_EVENTS = {VIEWED: "viewed", CLICKED: "clicked", DISMISSED: "dismissed"}
SCENARIO_SHOW_FOR = timedelta(days=7)
WRITE_ATTEMPTS = 3
WRITE_BACKOFF_SECONDS = 0.02
T = TypeVar("T")  # a message a scenario step sent stays up this long unless its trigger says


def report_id(message_id: str) -> str:
    """The report a message's own counters live under (`GET /admin/in-app/{id}/report`)."""
    return f"in_app:{message_id}"


MESSAGE_ROW = row_key("message", None, CHANNEL)

Messages = Callable[[], Mapping[str, InAppMessage]]
VisitorLookup = Callable[[str | None, str | None], "StoredProfile | None"]


def build_messages(effective: Iterable[Any]) -> dict[str, InAppMessage]:
    """The enabled effective definitions, parsed (for `EffectiveCache`). A stored body that no longer parses is
    logged and left out: one bad definition must not stop every message."""
    from chalicelib.definitions.exceptions import DefinitionInvalid
    from chalicelib.inapp.model import parse_message

    out: dict[str, InAppMessage] = {}
    for item in effective:
        if not item.enabled:
            continue
        try:
            out[item.id] = parse_message(item.body)
        except DefinitionInvalid as exc:
            log.error("definitions: in-app message %s v%s unusable: %s", item.id, item.version, exc)
    return out


class InAppService:
    def __init__(
        self,
        *,
        visitor: VisitorLookup,
        store: InAppStateStore,
        messages: Messages,
        clock: Clock,
        reports: ReportCounter | None = None,
    ) -> None:
        self.visitor = visitor
        self.store = store
        self.messages = messages
        self.clock = clock
        self.reports = reports

    # -- the fetch -------------------------------------------------------------------------------------------------
    def fetch(self, anonymous_id: str | None, user_id: str | None) -> dict[str, Any]:
        """`{"visitor": {"known"}, "messages": [...]}`: the messages eligible now, highest priority first. An unknown
        visitor gets none (and costs one read)."""
        stored = self.visitor(anonymous_id, user_id)
        if stored is None:
            return {"visitor": {"known": False}, "messages": []}
        known = self.messages()
        if not known:
            return {"visitor": {"known": True}, "messages": []}
        state = self.store.get(stored.profile_id) or InAppState()
        profile = stored.profile()
        state.add_event_triggers(known.values(), profile.activity.last_by_event)
        shown = eligible(known.values(), profile.segments, state, self.clock.now())
        return {"visitor": {"known": True}, "messages": [m.view() for m in shown]}

    # -- a scenario step -------------------------------------------------------------------------------------------
    def deliver(self, profile_id: str, message: str, record: Mapping[str, Any]) -> str:
        """Put `message` in the person's in-app state for a scenario step (`record`: the delivery message record's
        scenario, step, variant and message id). Idempotent: the same step delivered twice records one trigger.
        Raises KeyError for a message that does not exist (or is archived)."""
        definition = self.messages().get(message)
        if definition is None:
            raise KeyError(message)
        now = self.clock.now()
        show_for = parse_period(definition.trigger.show_for) if definition.trigger else SCENARIO_SHOW_FOR
        entry = Triggered(
            at=iso(now),
            until=iso(now + show_for),
            by="scenario",
            scenario_id=_text(record.get("scenario_id")),
            step_id=_text(record.get("step_id")),
            variant=_text(record.get("variant")),
            message_id=_text(record.get("message_id")),
        )

        def put(state: InAppState) -> bool:
            current = state.triggered.get(message)
            if current is not None and current.message_id == entry.message_id:
                return False  # this very step already delivered it
            return state.trigger(message, entry)

        self.store.update(profile_id, put, now)
        return f"{CHANNEL}:{message}"

    # -- events back from pages and apps ---------------------------------------------------------------------------
    def apply_events(
        self, profile_id: str, events: Iterable[TrackedEvent], profile: Mapping[str, Any] | None = None
    ) -> int:
        """Fold a person's newly stored events: views, clicks and dismissals into the state (caps, dismissal) and
        the reports. Returns how many events mattered. Replays are no-ops. `profile` (the body as plain builtins,
        as folded with these events) times the event triggers, which decide whether a view, click or dismissal
        lands on a scenario's report as well; trigger events themselves change nothing here (see the module)."""
        known = self.messages()
        relevant = [e for e in events if e.type == "track" and not e.is_bot and _feedback_for(e, known) is not None]
        if not relevant:
            return 0
        now = self.clock.now()

        def change(state: InAppState) -> bool:
            changed = False
            for event in relevant:
                feedback = _feedback_for(event, known)
                if feedback is not None:
                    kind, message = feedback
                    if kind == "viewed":
                        changed |= state.impression(message, event.timestamp, event.key)
                    elif kind == "clicked":
                        changed |= state.click(message, event.timestamp)
                    else:
                        changed |= state.dismiss(message, event.timestamp)
            state.prune(now, set(known))
            return changed

        state = _retrying(lambda: self.store.update(profile_id, change, now))
        if self.reports is not None:
            # A scenario's message an event put up again after it ended is the event's (as when triggers were stored).
            state.add_event_triggers(known.values(), last_event_times(profile) if profile is not None else {})
            for event in relevant:
                feedback = _feedback_for(event, known)
                if feedback is not None:
                    _retrying(partial(self._count, profile_id, event, *feedback, state, now))
        return len(relevant)

    def _count(
        self, profile_id: str, event: TrackedEvent, kind: str, message: str, state: InAppState, now: datetime
    ) -> None:
        """Idempotent counters (fact ids): impressions per event, viewers / clickers / dismissers per person, and
        the same as opens / clicks on the scenario step's row when a scenario sent the message."""
        assert self.reports is not None
        reports = self.reports
        # Unique per person and message, without the profile id in the key (fact markers outlive an erasure).
        person = hashlib.sha256(f"{message}\x1f{profile_id}".encode()).hexdigest()[:24]
        if kind == "viewed":
            reports.count(
                f"inapp-view#{event.key}", report_id(message), MESSAGE_ROW, {"impressions": 1}, now, listed=False
            )
            reports.count(
                f"inapp-viewer#{person}",
                report_id(message),
                MESSAGE_ROW,
                {"viewers": 1},
                now,
                listed=False,
            )
        else:
            counter = "clicks" if kind == "clicked" else "dismissals"
            reports.count(f"inapp-{kind}#{person}", report_id(message), MESSAGE_ROW, {counter: 1}, now, listed=False)
        sent = state.triggered.get(message)
        if sent is None or sent.by != "scenario" or not sent.scenario_id or not sent.message_id:
            return
        row = row_key(sent.step_id or "", sent.variant, CHANNEL)
        # The same fact ids and counters as an email's opens and clicks, so the scenario report reads alike.
        counter, fact = {
            "viewed": ("human_opens", "human_opens"),
            "clicked": ("clicks", "clicks"),
            "dismissed": ("dismissals", "dismissals"),
        }[kind]
        reports.count(f"{fact}#{sent.message_id}", sent.scenario_id, row, {counter: 1}, now)


def _feedback_for(event: TrackedEvent, known: Mapping[str, InAppMessage]) -> tuple[str, str] | None:
    kind = FEEDBACK_EVENTS.get(event.event or "")
    message = event.properties.get("message_id")
    if kind is None or not isinstance(message, str) or message not in known:
        return None
    return kind, message


def _retrying(write: Callable[[], T]) -> T:
    """A write retried in place on a transient storage failure (botocore has already retried below it). Every write
    here is idempotent, and a failure would send the person's whole stream record back: runs, learning and all."""
    from chalicelib.shared.faults import is_transient

    for attempt in range(WRITE_ATTEMPTS):
        try:
            return write()
        except Exception as exc:
            if attempt == WRITE_ATTEMPTS - 1 or not is_transient(exc):
                raise
            log.warning("in-app: write failed (%s); retrying", type(exc).__name__)
            time.sleep(WRITE_BACKOFF_SECONDS * 2**attempt)
    raise AssertionError("unreachable")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
