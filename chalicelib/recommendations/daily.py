"""One day of the event archive turned into the similar-items updates it teaches (pure: no I/O).

The nightly job (`learning.py`) feeds a day's archived lines to a `DayBuilder`, which keeps, per person, only the
compact cards of their `Product Viewed` and verified `Order Completed` events. `deltas()` then replays each person's
day in time order through the same rule the lists have always used (`similarity.event_deltas`: a view pairs with the
person's recent items, an order with its products, the views before it and earlier purchases) and sums the updates
per list (`similarity.combine`), so each touched list is written once for the day.

What a person's day cannot see: their items of earlier days (a view at 00:05 pairs only with views since midnight)
and events filed under another profile id (an anonymous visitor identified later in the day: the archive keeps the
id an event was stored with). Memory holds one day's product events as cards, never the whole history.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.recommendations.similarity import Card, Delta, card_of, combine, event_deltas

VIEW_EVENT = "Product Viewed"
ORDER_EVENT = "Order Completed"
LEARNT_EVENTS = (VIEW_EVENT, ORDER_EVENT)
UNLINKED = "unlinked#"  # Global Privacy Control events: tied to no one, never folded, never learnt


@dataclass(frozen=True)
class Step:
    """One learnt event of a person: time, event key (a stable tie-break), name, and its cards."""

    ts: str
    key: str
    name: str
    cards: tuple[Card, ...]


@dataclass
class DayBuilder:
    """Collects one day's learnt events per person (`add`), then the day's updates per list (`deltas`)."""

    people: dict[str, list[Step]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    # One object per distinct card: a product's card is the same all day in most shops, and every list holding it as
    # a neighbour then points to that one object (`combine` copies only a card that differs).
    cards: dict[tuple[tuple[str, Any], ...], Card] = field(default_factory=dict)
    events: int = 0
    skipped: int = 0  # bots, unverified orders, unreadable or product-less lines

    def add(self, line: Mapping[str, Any]) -> bool:
        """One archived line (`tracking.archive.archive_line`); True when it teaches something.

        Bot traffic and unverified orders (a client source claiming a purchase) teach nothing, as the fold applies
        neither to a profile; a line archived twice (a stream batch split on a retry) counts once, by event key."""
        name, key, profile_id = line.get("event"), str(line.get("key") or ""), str(line.get("profile_id") or "")
        if line.get("type") != "track" or name not in LEARNT_EVENTS or not key or not profile_id:
            return False
        if key in self.seen:
            return False
        self.seen.add(key)
        if profile_id.startswith(UNLINKED):
            self.skipped += 1
            return False
        try:
            body = json.loads(line["body"]) if isinstance(line.get("body"), str) else line.get("body")
        except ValueError:
            body = None
        if not isinstance(body, Mapping):
            self.skipped += 1
            return False
        flags = body.get("flags") or []
        raw_props = body.get("properties")
        props: Mapping[str, Any] = raw_props if isinstance(raw_props, Mapping) else {}
        if body.get("is_bot") or "bot" in flags or (name == ORDER_EVENT and "unverified" in flags):
            self.skipped += 1
            return False
        if name == VIEW_EVENT:
            card = card_of(props)
            cards: tuple[Card, ...] = (card,) if card is not None else ()
        else:
            listed = props.get("products")
            products = listed if isinstance(listed, list) else []
            cards = tuple(c for p in products if isinstance(p, Mapping) and (c := card_of(p)))
        if not cards:
            self.skipped += 1
            return False
        cards = tuple(self.cards.setdefault(tuple(sorted(c.items())), c) for c in cards)
        self.people.setdefault(profile_id, []).append(Step(str(line.get("ts") or ""), key, str(name), cards))
        self.events += 1
        return True

    def deltas(self) -> dict[str, Delta]:
        """The day's updates by list key: every person's day replayed in time order through `event_deltas`."""
        day: dict[str, Delta] = {}
        for profile_id in sorted(self.people):
            viewed: list[Card] = []  # most recent first
            purchased: list[str] = []  # most recent first
            for step in sorted(self.people[profile_id], key=lambda s: (s.ts, s.key)):
                if step.name == VIEW_EVENT:
                    combine(day, event_deltas(VIEW_EVENT, step.cards[0], viewed, []))
                    viewed.insert(0, step.cards[0])
                else:
                    bought = [c["product_id"] for c in step.cards]
                    earlier = [p for p in purchased if p not in bought]
                    combine(day, event_deltas(ORDER_EVENT, {"products": list(step.cards)}, viewed, earlier))
                    purchased[:0] = bought
                del viewed[RECENT_KEPT:], purchased[RECENT_KEPT:]
        return day


RECENT_KEPT = 20  # more than any rule pairs with (5 recent items, 3 earlier purchases): the rest is never read


def product_totals(deltas: Mapping[str, Delta], before: Mapping[str, float]) -> dict[str, float]:
    """Each learnt product's own total after the day (`sim#<product>` -> t): `before` (its list's t as read, without
    this day) plus the day's own weight. The cosine's denominator for every pair written that day."""
    out = dict(before)
    for key, delta in deltas.items():
        if key.startswith("sim#"):
            out[key] = round(before.get(key, 0.0) + delta.total, 3)
    return out
