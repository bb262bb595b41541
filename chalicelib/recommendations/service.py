"""Recommendation use cases: learn from newly folded events, and rank products for a person or for given products."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.recommendations.ports import Availability, CardsSayStock, SimilarItemsStore
from chalicelib.recommendations.similarity import Card, Person, card_of, event_deltas, person_of, rank

if TYPE_CHECKING:
    from chalicelib.tracking.events import TrackedEvent

log = logging.getLogger("one2one")
LEARNT_EVENTS = ("Product Viewed", "Order Completed")
MAX_LIMIT = 20


class RecommendationService:
    """Similar items learnt on the profiles stream's scenario consumer (no reader of its own), read by the API,
    personalisation and templates (`related_products`)."""

    def __init__(self, store: SimilarItemsStore, availability: Availability | None = None) -> None:
        self.store = store
        self.availability = availability or CardsSayStock()

    # -- learning ------------------------------------------------------------------------------------------------------
    def learn(self, profile: Mapping[str, Any], events: Sequence[TrackedEvent], now: datetime) -> int:
        """Apply each new `Product Viewed` / `Order Completed` of this person once; return how many were applied.

        `profile` is the version that folded `events` (its recent views and purchases pair with them). Unverified
        orders (a client source claiming a purchase) teach nothing, as they count nothing elsewhere."""
        applied = 0
        for event in events:
            if event.event not in LEARNT_EVENTS or (event.event == "Order Completed" and event.unverified):
                continue
            recent, purchased = _history(profile, event)
            deltas = event_deltas(event.event, event.properties, recent, purchased)
            if deltas and self.store.apply(event.key, deltas, now):
                applied += 1
        return applied

    def record_order(self, order_key: str, products: list[dict[str, Any]], now: datetime) -> bool:
        """`RelatedProducts.record_order`: one order's co-purchases with no person history."""
        deltas = event_deltas("Order Completed", {"products": products}, [], [])
        return bool(deltas) and self.store.apply(order_key, deltas, now)

    def catalog_stock(self, changes: Iterable[tuple[str, bool, str]]) -> int:
        """The catalog's stock changes `(product_id, in_stock, at)`: a product that can no longer be bought leaves
        every recommendation at once, and returns when restocked. Returns how many were applied."""
        count = 0
        for product_id, in_stock, at in changes:
            self.store.mark_stock(product_id, in_stock, at)
            count += 1
        return count

    # -- reading -------------------------------------------------------------------------------------------------------
    def for_profile(
        self, profile: Mapping[str, Any] | None, limit: int = 10, exclude: Iterable[str] = ()
    ) -> list[Card]:
        """The person's recommendations (one batch read); an unknown visitor gets what is popular."""
        person = person_of(profile)
        return self.ranked(person, self.store.read(person.keys()), limit, exclude)

    def ranked(
        self, person: Person, lists: Mapping[str, Mapping[str, Any]], limit: int, exclude: Iterable[str] = ()
    ) -> list[Card]:
        """Rank with lists already read (personalisation reads them together with nothing else)."""
        limit = max(1, min(limit, MAX_LIMIT))
        candidates = {pid for state in lists.values() for pid in (state.get("n") or {})}
        unavailable = self.availability.unavailable(candidates) if candidates else set()
        return rank(person, lists, limit, exclude, unavailable)

    def related(self, product_ids: list[str], exclude: set[str], limit: int = 4) -> list[dict[str, Any]]:
        """`RelatedProducts.related` for templates: the products most similar to `product_ids`, none of `exclude`."""
        person = Person(viewed=tuple(dict.fromkeys(product_ids)))
        return self.ranked(person, self.store.read(person.keys()), limit, exclude)


def _history(profile: Mapping[str, Any], event: TrackedEvent) -> tuple[list[Card], list[str]]:
    """The person's items before `event` as cards (views, most recent first, then cart lines) and earlier purchases."""
    from chalicelib.profiles import view
    from chalicelib.tracking.events import iso

    at = iso(event.timestamp)
    recent = [c for p in view.viewed_products(profile) if str(p.get("at") or "") < at and (c := card_of(p))]
    recent += [c for p in view.cart_items(profile) if (c := card_of(p))]
    bought_now: set[str] = set()
    if event.event == "Order Completed" and isinstance(products := event.properties.get("products"), list):
        bought_now = {c["product_id"] for p in products if isinstance(p, dict) and (c := card_of(p))}
    purchased = view.computed(profile).get("purchased_products") or []
    return recent, [str(p) for p in purchased if isinstance(p, str | int) and str(p) not in bought_now]
