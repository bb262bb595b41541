"""Privacy rights: access (export everything held about a person) and erasure (by key, with tombstones)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.privacy.exceptions import NotFound
from chalicelib.privacy.ports import PersonalData, PersonalDataStore, PersonKeys
from chalicelib.profiles import archived_days
from chalicelib.profiles.merge import body_identity_keys
from chalicelib.profiles.ports import ProfileStore, StoredProfile
from chalicelib.profiles.redirects import follow_merges
from chalicelib.shared.clock import Clock
from chalicelib.tracking.identity import ERASED, profile_id_for

__all__ = ["ERASED", "NotFound", "PersonKeys", "PersonalDataStore", "PrivacyService", "PrivacyTables"]


@dataclass
class PrivacyTables:
    """The profiles table (read by `keys_for`) and the stores features registered beside the core tables."""

    profiles: str
    extra: list[PersonalDataStore] = field(default_factory=list)


class PrivacyService:
    def __init__(self, tables: PrivacyTables, data: PersonalData, clock: Clock, profiles: ProfileStore) -> None:
        self.t = tables
        self.data = data
        self.clock = clock
        self.profiles = profiles

    def keys_for(self, profile_id: str) -> tuple[PersonKeys, dict[str, Any]]:
        profile_id, stored = follow_merges(self.profiles, profile_id)
        if stored is None or stored.erased:
            raise NotFound(f"profile {profile_id} not found")
        body = stored.document()
        body["version"] = stored.version
        profile_ids = [profile_id, *body.get("merged_from", [])]
        # Each merged-away profile keeps its body under `merged_into`, and may have been written after the merge read
        # it. Read one by one, strongly consistent: a rare request, and a missed day or key would leave data behind.
        merged = [m for m in (self.profiles.get(pid) for pid in profile_ids[1:]) if m is not None and not m.erased]
        days = self._archived_days([stored, *merged])  # before the device ids below: no profile holds their days
        candidates: list[str] = []
        complete = True
        for held in (stored, *merged):
            profile = held.profile()
            candidates += [*profile.identity_keys, *body_identity_keys(profile)]
            complete = complete and profile.identity_keys_complete
        keys = self.data.identity_keys(profile_ids, candidates, complete=complete)
        # A device's events the fold deferred to this person before the device's own profile was ever written were
        # stored (and archived) under the device's derived profile id, which no merge lists. The device's identity
        # record pointing here says they are this person's: that id's partitions and archived lines go too. Only
        # where no profile exists there (a live one is someone else's: a shared device that followed another login;
        # a merged one is in `merged_from` already).
        for key in sorted(keys):
            kind, _, value = key.partition(":")
            derived = profile_id_for("anon", value) if kind == "anon" else None
            if derived and derived not in profile_ids and self.profiles.get(derived) is None:
                profile_ids.append(derived)
        tokens = sorted(body.get("devices") or {})  # push devices, keyed by token (profiles/devices.py)
        return PersonKeys(profile_id, profile_ids, sorted(keys), tokens, days), body

    @staticmethod
    def _archived_days(held: list[StoredProfile]) -> list[str]:
        """The archive days of the profile and of every profile merged into it (a merged-away one keeps its days)."""
        found: set[str] = set()
        for stored in held:
            found.update(archived_days.days(stored.profile().archived_days))
        return sorted(found)

    def export(self, profile_id: str) -> dict[str, Any]:
        """Right of access: everything we hold about the person, as JSON."""
        keys, body = self.keys_for(profile_id)
        body.pop("applied", None)
        body.pop("folded", None)
        body.pop("folded_in", None)
        events = sorted((e.summary() for e in self.data.events(keys.profile_ids)), key=lambda e: e["timestamp"])
        out: dict[str, Any] = {
            "profile_id": keys.profile_id,
            "exported_at": self.clock.now().isoformat(),
            "profile": body,
            "merged_profile_ids": keys.profile_ids[1:],
            "identities": keys.identity_keys,
            "events": events,
            "segments": sorted(set(self.data.segment_ids(keys.profile_ids))),
        }
        # One section per kind of thing `erase` deletes, under the name it counts it by (`deleted`), so an access
        # request shows everything an erasure would remove.
        unlinked = self.data.unlinked_events(keys.identity_keys)
        out["unlinked_events"] = sorted((e.summary() for e in unlinked), key=lambda e: e["timestamp"])
        out["profiles"] = keys.profile_ids
        out["segment_memberships"] = out["segments"]
        for store in self.t.extra:
            out[store.name] = store.export(keys)
        return out

    def erase(self, profile_id: str) -> dict[str, Any]:
        """Right to erasure: delete by key in every table, then leave tombstones so late events cannot resurrect the
        person (their identities resolve to `erased`, which ingest drops, and the fold deletes anything in flight)."""
        keys, body = self.keys_for(profile_id)
        now = self.clock.now().isoformat()
        counts: dict[str, int] = {}
        counts["events"] = self.data.erase_events(keys.profile_ids)
        counts["unlinked_events"] = self.data.erase_unlinked_events(keys.identity_keys)
        counts["segment_memberships"] = self.data.erase_memberships(keys.profile_ids)
        for store in self.t.extra:
            counts[store.name] = store.erase(keys)
        for key in keys.identity_keys:
            self.data.tombstone_identity(key, now)
        counts["identities"] = len(keys.identity_keys)
        for pid in keys.profile_ids:
            self.data.tombstone_profile(pid, body["version"] + 1 if pid == keys.profile_id else 1, now)
        # An anonymous id has no hashed tombstone lookup at ingest (identity.tombstone_read_on_miss): a late event
        # carrying only it resolves to the profile derived from it, so that profile is a tombstone too (the fold
        # drops what arrives there). Only where no profile exists: a live one there is someone else's (a shared
        # device that followed another login).
        derived = [profile_id_for("anon", k.removeprefix("anon:")) for k in keys.identity_keys if k.startswith("anon:")]
        absent = [pid for pid in derived if pid not in keys.profile_ids and self.profiles.get(pid) is None]
        for pid in absent:
            self.data.tombstone_profile(pid, 1, now)
        counts["profiles"] = len(keys.profile_ids) + len(absent)
        return {"profile_id": keys.profile_id, "erased_at": now, "deleted": counts}
