"""List the identity keys of profiles written before profiles listed them (one-off, after the upgrade of issue 19).

A profile written before `Profile.identity_keys` existed has no complete list (`identity_keys_complete` False): the
fold linked its superseded emails unlisted, so its erasure and access export find its identity records through a
Scan of the identities table. This job reads that table once (key, profile_id), then every profile: each one
without the marker gets the keys whose records name it, and the marker, in a write conditional on the version it
read (re-read and retried on a lost race). Idempotent: a profile already complete is skipped, so a run cut short is
simply run again. Keys the fold links after the identities were read are listed by the fold itself.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.tracking.identity import ERASED, ERASED_KEY_PREFIX

if TYPE_CHECKING:
    from chalicelib.profiles.ports import ProfileScan, ProfileStore

log = logging.getLogger("one2one")

MAX_ATTEMPTS = 5
PAGE = 200


@dataclass
class ListingStats:
    records: int = 0
    profiles_seen: int = 0
    profiles_listed: int = 0  # written with their keys and the marker
    profiles_skipped: int = 0  # already complete, or an erasure tombstone
    lost_races: int = 0  # profiles left unmarked after MAX_ATTEMPTS lost writes: a run again lists them


def list_identity_keys(
    records: Iterable[tuple[str, str]], profiles: ProfileStore, scan: ProfileScan, stats: ListingStats | None = None
) -> ListingStats:
    """Mark every profile complete: `records` is every identity record (key, profile id) of the identities table."""
    stats = stats or ListingStats()
    keys_of: dict[str, set[str]] = defaultdict(set)
    for key, profile_id in records:
        stats.records += 1
        if profile_id != ERASED and not key.startswith(ERASED_KEY_PREFIX):
            keys_of[profile_id].add(key)
    start_after: str | None = None
    while True:
        page, start_after = scan.scan_page(0, 1, start_after, PAGE)
        for stored in page:
            stats.profiles_seen += 1
            if stored.erased or stored.profile().identity_keys_complete:
                stats.profiles_skipped += 1
                continue
            outcome = _mark(profiles, stored.profile_id, keys_of.get(stored.profile_id, set()))
            if outcome is None:
                stats.lost_races += 1
            elif outcome:
                stats.profiles_listed += 1
            else:
                stats.profiles_skipped += 1
        if start_after is None:
            return stats


def _mark(profiles: ProfileStore, profile_id: str, keys: set[str]) -> bool | None:
    """Add `keys` to the profile's list and mark it complete: True when written, False when there was nothing to do
    (gone, erased or complete by now), None when every attempt lost its race."""
    for _ in range(MAX_ATTEMPTS):
        stored = profiles.get(profile_id)
        if stored is None or stored.erased:
            return False
        profile = stored.profile()
        if profile.identity_keys_complete:
            return False
        profile.identity_keys = list(dict.fromkeys([*profile.identity_keys, *sorted(keys)]))
        profile.identity_keys_complete = True
        # A new version, so that a fold that read the old one loses its conditional write and folds again from this.
        profile.version = stored.version + 1
        if profiles.put(profile, stored.version):
            return True
    log.warning("identity keys of %s not listed: lost %d write races", profile_id, MAX_ATTEMPTS)
    return None
