"""One person's in-app state: triggered messages, impressions, clicks and dismissals (pure data and its updates).

One item per person holds it all, so the fetch route reads it with one GetItem. Every update is idempotent: an
impression is keyed by the event that reported it (a redelivered stream record adds nothing), a trigger by the
message it shows, a dismissal or click by the message (the first one stands).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.inapp.model import IMPRESSIONS_KEPT
from chalicelib.tracking.events import iso

KEEP_TRIGGERS_AFTER_EXPIRY = timedelta(days=1)
# An event trigger that would move a live trigger's end later by less than 1/REFRESH_STEPS of its window (1 h for
# "show for a day") is not written: someone browsing views a product every few minutes, and each view used to rewrite
# the whole state item (a write unit and more) to move the banner's end by minutes. The banner may thus end up to one
# step earlier than the latest view + `show_for`.
REFRESH_STEPS = 24


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
        if current is not None and _small_extension(current, entry):
            return False
        if current is not None and current.by == "scenario" != entry.by and current.live(parse_time(entry.at)):
            return False  # a scenario's message stays the scenario's (its report) while it is up
        self.triggered[message] = entry
        return True

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


def _small_extension(current: Triggered, entry: Triggered) -> bool:
    """Whether `entry` (a later event trigger) would only move a live event trigger's end by less than a step."""
    if current.by != "event" or entry.by != "event" or not current.live(parse_time(entry.at)):
        return False
    if current.until is None or entry.until is None:
        return current.until is None and entry.until is None  # shown until taken down either way
    window = parse_time(entry.until) - parse_time(entry.at)
    return parse_time(entry.until) - parse_time(current.until) < window / REFRESH_STEPS
