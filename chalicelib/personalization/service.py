"""Personalisation use case: which content each page slot shows this visitor, with their recommendations.

A call reads at most two things: the visitor's profile (one BatchGetItem over the ids their anonymous and user ids
map to) and, when a recommendations slot is asked for, the lists of their items (one BatchGetItem). Only a visitor
merged into another profile, or a userId whose profile began under another identity, costs a read more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.personalization.slots import Choice, Slot
from chalicelib.profiles.model import Profile
from chalicelib.profiles.redirects import follow_merges
from chalicelib.recommendations import Card, RecommendationService, person_of
from chalicelib.rules import evaluate
from chalicelib.shared.clock import Clock
from chalicelib.tracking.identity import clean_id, identity_key, profile_id_for

if TYPE_CHECKING:
    from chalicelib.profiles.ports import ProfileStore, StoredProfile
    from chalicelib.tracking.ports import IdentityStore

MAX_SLOTS = 10


@dataclass(frozen=True)
class Visitor:
    """Who asks: their stored profile (None for an unknown visitor)."""

    stored: StoredProfile | None

    @property
    def known(self) -> bool:
        return self.stored is not None


class PersonalizationService:
    def __init__(
        self,
        *,
        profiles: ProfileStore,
        identities: IdentityStore,
        recommendations: RecommendationService,
        slots: Callable[[], Mapping[str, Slot]],
        clock: Clock,
    ) -> None:
        self.profiles = profiles
        self.identities = identities
        self.recommendations = recommendations
        self.slots = slots
        self.clock = clock

    def visitor(self, anonymous_id: str | None, user_id: str | None) -> Visitor:
        """The visitor's live profile with one batch read in the usual case; an unknown visitor has none."""
        candidates = []
        if (user := clean_id(user_id)) is not None:
            candidates.append(profile_id_for("user", user))
        if (anon := clean_id(anonymous_id)) is not None:
            candidates.append(profile_id_for("anon", anon))
        if not candidates:
            return Visitor(None)
        found = self.profiles.get_many(candidates)
        stored = next((found[c] for c in candidates if c in found), None)
        if stored is None and user is not None:  # the person began anonymous and logged in later: their record says
            profile_id = self.identities.lookup([identity_key("user", user)]).get(identity_key("user", user))
            stored = self.profiles.get(profile_id) if profile_id else None
        if stored is not None and stored.merged_into:
            _, stored = follow_merges(self.profiles, stored.profile_id, stored)
        if stored is None or stored.erased:
            return Visitor(None)
        return Visitor(stored)

    def personalize(self, anonymous_id: str | None, user_id: str | None, slot_ids: list[str]) -> dict[str, Any]:
        """Per asked slot, `{"variant", "content"}` (+ `"items"` for a recommendations slot); `{}` for a slot that
        does not exist. An unknown visitor gets each slot's default."""
        visitor = self.visitor(anonymous_id, user_id)
        subject = visitor.stored.profile() if visitor.stored is not None else Profile(profile_id="")
        now = self.clock.now()
        known = self.slots()
        out: dict[str, Any] = {}
        wants_items: list[tuple[str, Slot]] = []
        for slot_id in slot_ids[:MAX_SLOTS]:
            slot = known.get(slot_id)
            if slot is None:
                out[slot_id] = {}
                continue
            chosen: Choice = next((v for v in slot.variants if evaluate(v.when, subject, now)), slot.default)
            out[slot_id] = {"variant": chosen.id, "content": chosen.content}
            if slot.kind == "recommendations":
                wants_items.append((slot_id, slot))
        if wants_items:
            document = visitor.stored.document() if visitor.stored is not None else None
            items = self.recommend_document(document, max(s.limit for _, s in wants_items))
            for slot_id, slot in wants_items:
                out[slot_id]["items"] = items[: slot.limit]
        first_visit = visitor.stored is None or subject.computed.sessions <= 1
        return {"visitor": {"known": visitor.known, "first_visit": first_visit}, "slots": out}

    def recommend(self, anonymous_id: str | None, user_id: str | None, limit: int) -> dict[str, Any]:
        """The visitor's recommendations (`GET /v1/recommendations`)."""
        visitor = self.visitor(anonymous_id, user_id)
        document = visitor.stored.document() if visitor.stored is not None else None
        return {"visitor": {"known": visitor.known}, "items": self.recommend_document(document, limit)}

    def recommend_document(self, document: Mapping[str, Any] | None, limit: int) -> list[Card]:
        person = person_of(document)
        lists = self.recommendations.store.read(person.keys())
        return self.recommendations.ranked(person, lists, limit)
