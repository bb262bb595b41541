"""Admin read model: a resolved profile with its identities and recent events, and the failed-events list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.profiles.redirects import follow_merges
from chalicelib.tracking.identity import clean_email, clean_id, identity_key, profile_id_for

if TYPE_CHECKING:
    from chalicelib.predictions.ports import ModelStore, PropensityStore
    from chalicelib.profiles.ports import ProfileStore, StoredProfile
    from chalicelib.tracking.ports import EventStore, IdentityStore


class NotFound(Exception):
    pass


class AdminService:
    def __init__(
        self,
        profiles: ProfileStore,
        identities: IdentityStore,
        events: EventStore,
        models: ModelStore | None = None,
        propensity: PropensityStore | None = None,
    ) -> None:
        self.profiles = profiles
        self.identities = identities
        self.events = events
        self.models = models  # CLV and propensity models: the view explains each prediction from them
        self.propensity = propensity

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
            if self.profiles.get(profile_id) is not None:
                return profile_id
        raise NotFound("no profile for that identity")

    def profile_view(self, profile_id: str, events_limit: int = 50) -> dict[str, Any]:
        requested = profile_id
        profile_id, stored = follow_merges(self.profiles, profile_id)
        if stored is None or stored.erased:
            raise NotFound(f"profile {requested} not found")
        body = stored.document()
        body.pop("applied", None)  # replay bookkeeping, not information about the person
        body.pop("folded", None)
        body.pop("folded_in", None)
        body["version"] = stored.version
        view: dict[str, Any] = {
            "profile_id": profile_id,
            "profile": body,
            "identities": self._identities(profile_id, stored),
            "recent_events": [
                e.summary()
                for e in self.events.history(
                    profile_id, limit=events_limit, merged_from=[str(p) for p in body.get("merged_from") or ()]
                )
            ],
        }
        if requested != profile_id:
            view["redirected_from"] = requested
        view["summary"] = read_time_summary(stored)
        view["predictions"] = self._explained(stored)
        return view

    def _identities(self, profile_id: str, stored: StoredProfile) -> list[str]:
        """The identity keys whose records point at this profile (or at one merged into it), sorted: those it lists
        and those its body names (a profile written before the list names no superseded email), each checked
        against its record (a listed key may have lost its link to another profile)."""
        from chalicelib.profiles.merge import body_identity_keys

        profile = stored.profile()
        person = {profile_id, *profile.merged_from}
        candidates = list(dict.fromkeys([*profile.identity_keys, *body_identity_keys(profile)]))
        records = self.identities.lookup(candidates) if candidates else {}
        return sorted(key for key, owner in records.items() if owner in person)

    def _explained(self, stored: StoredProfile) -> dict[str, Any]:
        from chalicelib.profiles.explain import explain_predictions
        from chalicelib.shared.clock import get_clock

        clv = self.models.current() if self.models else None
        models = self.propensity.current() if self.propensity else None
        return explain_predictions(stored.profile(), clv, models, get_clock().now())


def read_time_summary(stored: StoredProfile) -> dict[str, Any]:
    """Stage, scores, RFM, needs group and segments at a glance; engagement and grade as of now (they decay)."""
    from chalicelib.profiles.config import ConfigError, load_profile_config
    from chalicelib.profiles.model import as_dict
    from chalicelib.scoring.lead_score import current_engagement, grade
    from chalicelib.shared.clock import get_clock
    from chalicelib.tracking.events import iso

    profile = stored.profile()
    now = get_clock().now()
    engagement = current_engagement(profile, now)
    try:
        grade_now: str | None = grade(profile.scores.fit, engagement, load_profile_config().scoring.grade)
    except ConfigError:
        grade_now = profile.scores.grade  # the stored one; the config problem is reported by the handlers
    return {
        "as_of": iso(now),
        "stage": profile.stage,
        "stage_since": profile.stage_since,
        "scores": {
            "engagement": round(engagement, 3),
            "fit": profile.scores.fit,
            "total": round(engagement + profile.scores.fit, 3),
            "grade": grade_now,
            "crossed": profile.scores.crossed,
        },
        "rfm": as_dict(profile.rfm) if profile.rfm else None,
        "needs_group": profile.needs_group,
        "group_value_percentile": profile.group_value_percentile,
        "segments": profile.segments,
        "top_categories": profile.computed.top_categories,
    }
