"""Admin read model: a resolved profile with its identities and recent events, and the failed-events list."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.identity import clean_email, clean_id, identity_key, profile_id_for
from chalicelib.ports import EventStore, IdentityStore, ProfileStore

MAX_REDIRECTS = 5


class NotFound(Exception):
    pass


class AdminService:
    def __init__(self, profiles: ProfileStore, identities: IdentityStore, events: EventStore) -> None:
        self.profiles = profiles
        self.identities = identities
        self.events = events

    def resolve(self, anonymous_id: str | None, user_id: str | None, email: str | None) -> str:
        """Identity -> profile id with GetItem-class reads only (never a scan)."""
        candidates: list[tuple[str, str]] = []
        if (user := clean_id(user_id)) is not None:
            candidates.append(("user", user))
        if (mail := clean_email(email)) is not None:
            candidates.append(("email", mail))
        if (anon := clean_id(anonymous_id)) is not None:
            candidates.append(("anon", anon))
        if not candidates:
            raise ValueError("give one of anonymous_id, user_id or email")
        keys = [identity_key(kind, value) for kind, value in candidates]  # type: ignore[arg-type]
        records = self.identities.lookup(keys)
        for (kind, value), key in zip(candidates, keys, strict=True):
            profile_id = records.get(key) or profile_id_for(kind, value)  # type: ignore[arg-type]
            if self.profiles.get_many([profile_id]):
                return profile_id
        raise NotFound("no profile for that identity")

    def profile_view(self, profile_id: str, events_limit: int = 50) -> dict[str, Any]:
        requested = profile_id
        item = None
        for _ in range(MAX_REDIRECTS + 1):
            item = self.profiles.get_many([profile_id]).get(profile_id)
            if item is None or "merged_into" not in item:
                break
            profile_id = item["merged_into"]["S"]
        if item is None or "erased_at" in item:
            raise NotFound(f"profile {requested} not found")
        body = json.loads(item["body"]["S"])
        body.pop("applied", None)  # replay bookkeeping, not information about the person
        body["version"] = int(item["version"]["N"])
        view: dict[str, Any] = {
            "profile_id": profile_id,
            "profile": body,
            "identities": self.identities.for_profile(profile_id),
            "recent_events": [e.summary() for e in self.events.history(profile_id, limit=events_limit)],
        }
        if requested != profile_id:
            view["redirected_from"] = requested
        return view
