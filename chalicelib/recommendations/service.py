"""Recommendation use cases: rank products for a person or for given products, and follow the catalog's stock.

The lists are learnt by the nightly job over the event archive (`learning.py`), not here."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.recommendations.ports import Availability, CardsSayStock, SimilarItemsStore
from chalicelib.recommendations.similarity import Card, Person, person_of, rank

log = logging.getLogger("one2one")
MAX_LIMIT = 20


class RecommendationService:
    """Similar items (learnt nightly from the archive) read by the API, personalisation and templates
    (`related_products`); a person's own recent views still personalise at once (read from the profile at ranking)."""

    def __init__(self, store: SimilarItemsStore, availability: Availability | None = None) -> None:
        self.store = store
        self.availability = availability or CardsSayStock()

    # -- catalog stock (real time: stock changes are rare; similar items are learnt nightly, `learning.py`) ----------
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
