"""Which in-app messages a person may see now: dates, targeting, frequency caps, dismissal, then priority (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from chalicelib.inapp.model import InAppMessage, parse_period
from chalicelib.inapp.state import InAppState, parse_time

MAX_MESSAGES = 10


def in_window(message: InAppMessage, now: datetime) -> bool:
    return (message.start_at is None or message.start_at <= now) and (message.end_at is None or now < message.end_at)


def targeted(message: InAppMessage, segments: frozenset[str], state: InAppState, now: datetime) -> bool:
    """A scenario's message is shown while live; an event-triggered one while live (and the person is in its
    segment, when it names one); a segment-only one to the segment's members; one with no target only by scenario."""
    trigger = state.triggered.get(message.id)
    live = trigger is not None and trigger.live(now)
    if live and trigger is not None and trigger.by == "scenario":
        return True
    in_segment = message.segment is None or message.segment in segments
    if message.trigger is not None:
        return live and in_segment
    return message.segment is not None and in_segment


def capped(message: InAppMessage, state: InAppState, now: datetime) -> bool:
    if message.frequency is None:
        return False
    since = now - parse_period(message.frequency.per)
    return state.impressions_since(message.id, since) >= message.frequency.max_impressions


def dismissed(message: InAppMessage, state: InAppState, now: datetime) -> bool:
    """Dismissed for good, unless the message allows it again after a while (or a scenario sent it anew since)."""
    at = state.dismissed.get(message.id)
    if at is None:
        return False
    trigger = state.triggered.get(message.id)
    if trigger is not None and trigger.by == "scenario" and trigger.at > at:
        return False  # a scenario step sent it after the dismissal: a new message for the person
    again = message.dismissal.show_again_after
    return again is None or now < parse_time(at) + parse_period(again)


def eligible(
    messages: Iterable[InAppMessage], segments: Iterable[str], state: InAppState, now: datetime
) -> list[InAppMessage]:
    """The messages to show now, highest priority first (ties by id, so the order is stable), at most 10."""
    member_of = frozenset(segments)
    chosen = [
        m
        for m in messages
        if in_window(m, now)
        and targeted(m, member_of, state, now)
        and not capped(m, state, now)
        and not dismissed(m, state, now)
    ]
    chosen.sort(key=lambda m: (-m.priority, m.id))
    return chosen[:MAX_MESSAGES]
