"""One person's in-app state: triggered messages, impressions, clicks and dismissals (pure data and its updates).

One item per person holds it all, so the fetch route reads it with one GetItem. Every update is idempotent: an
impression is keyed by the event that reported it (a redelivered stream record adds nothing), a trigger by the
message it shows, a dismissal or click by the message (the first one stands). The item stores what scenario steps
sent; a message triggered by an event is triggered at the time the profile keeps for that event
(`add_event_triggers`), so the event writes no in-app state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.inapp.model import IMPRESSIONS_KEPT, InAppMessage, parse_period
from chalicelib.tracking.events import iso

KEEP_TRIGGERS_AFTER_EXPIRY = timedelta(days=1)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class Triggered:
    """A message put in front of the person: by an event (`by="event"`) or a scenario step (`by="scenario"`, with
    the delivery record's dimensions so views and clicks land on the scenario's report too)."""

    at: str
    until: str | None = None
    by: str = "event"
    scenario_id: str | None = None
    step_id: str | None = None
    variant: str | None = None
    message_id: str | None = None

    def live(self, now: datetime) -> bool:
        return self.until is None or now < parse_time(self.until)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class InAppState:
    """What the fetch and the caps need to know about one person. `version` is the stored item's (0: none yet)."""

    triggered: dict[str, Triggered] = field(default_factory=dict)
    impressions: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # id -> [(iso time, event key)]
    clicks: dict[str, str] = field(default_factory=dict)  # id -> first click time
    dismissed: dict[str, str] = field(default_factory=dict)  # id -> last dismissal time
    version: int = 0

    # -- updates (each returns whether anything changed) -------------------------------------------------------------
    def trigger(self, message: str, entry: Triggered) -> bool:
        current = self.triggered.get(message)
        if current is not None and current.at >= entry.at:
            return False  # the same (or a later) trigger is already recorded
        if current is not None and current.by == "scenario" != entry.by and current.live(parse_time(entry.at)):
            return False  # a scenario's message stays the scenario's (its report) while it is up
        self.triggered[message] = entry
        return True

    def add_event_triggers(self, messages: Iterable[InAppMessage], last_by_event: Mapping[str, float]) -> None:
        """Trigger each message with an event trigger at the person's latest time of its event (the profile's
        `activity.last_by_event`, epoch seconds) for its `show_for`, by `trigger`'s rule: a later trigger already
        here (a scenario step's, or an event trigger stored by an earlier deployment) or a scenario's message still up
        then stands. In memory only: the fetch and the report attribution derive them; nothing stores them."""
        for message in messages:
            trigger = message.trigger
            at = last_by_event.get(trigger.event) if trigger is not None else None
            if trigger is None or at is None:
                continue
            happened = datetime.fromtimestamp(at, UTC)
            until = happened + parse_period(trigger.show_for)
            self.trigger(message.id, Triggered(at=iso(happened), until=iso(until)))

    def impression(self, message: str, at: datetime, event_key: str) -> bool:
        seen = self.impressions.setdefault(message, [])
        if any(key == event_key for _, key in seen):
            return False
        seen.append((iso(at), event_key))
        seen.sort()
        del seen[:-IMPRESSIONS_KEPT]
        return True

    def click(self, message: str, at: datetime) -> bool:
        if message in self.clicks:
            return False
        self.clicks[message] = iso(at)
        return True

    def dismiss(self, message: str, at: datetime) -> bool:
        if self.dismissed.get(message, "") >= iso(at):
            return False
        self.dismissed[message] = iso(at)
        return True

    def prune(self, now: datetime, known: set[str]) -> None:
        """Forget messages that no longer exist and triggers long expired (the item stays small)."""
        for table in (self.triggered, self.impressions, self.clicks, self.dismissed):
            for message in [m for m in table if m not in known]:
                del table[message]
        cutoff = now - KEEP_TRIGGERS_AFTER_EXPIRY
        for message in [m for m, t in self.triggered.items() if t.until is not None and parse_time(t.until) < cutoff]:
            del self.triggered[message]

    # -- codec ---------------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "t": {m: t.to_dict() for m, t in self.triggered.items()},
            "v": {m: [list(i) for i in seen] for m, seen in self.impressions.items() if seen},
            "c": dict(self.clicks),
            "d": dict(self.dismissed),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], version: int = 0) -> InAppState:
        return cls(
            triggered={m: Triggered(**t) for m, t in (data.get("t") or {}).items()},
            impressions={m: [(str(a), str(b)) for a, b in seen] for m, seen in (data.get("v") or {}).items()},
            clicks=dict(data.get("c") or {}),
            dismissed=dict(data.get("d") or {}),
            version=version,
        )

    def impressions_since(self, message: str, since: datetime) -> int:
        after = iso(since)
        return sum(1 for at, _ in self.impressions.get(message, ()) if at > after)
