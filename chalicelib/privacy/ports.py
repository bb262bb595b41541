"""Privacy ports: every store that holds data about a person, read and erased by key (never by scan, but for the
identity records of a profile written before it listed its identity keys).

`PersonalData` covers the person-indexed tables of tracking, profiles and segments (events, identities, segment
memberships, profile tombstones); later features register a `PersonalDataStore` of their own (delivery: runs, message
records, send log, preferences, touches, suppression, waiting steps) so erasure stays complete as the product grows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.tracking.events import TrackedEvent


@dataclass
class PersonKeys:
    """Every key under which something about one person is stored."""

    profile_id: str
    profile_ids: list[str]  # the profile and every profile merged into it
    identity_keys: list[str]
    device_tokens: list[str] = field(default_factory=list)  # the push tokens of the person's devices (profile)
    # The days the person has events archived on, as their profiles hold them (`Profile.archived_days`, the winner's
    # and each merged-away one's): the event archive adds those of its own per-person index.
    archived_days: list[str] = field(default_factory=list)


@dataclass
class PersonalDataStore:
    """A feature's data about people: `export` returns it as JSON-ready rows, `erase` deletes it and counts items."""

    name: str
    export: Callable[[PersonKeys], list[dict[str, Any]]]
    erase: Callable[[PersonKeys], int]


class PersonalData(Protocol):
    def identity_keys(self, profile_ids: list[str], candidates: Collection[str], *, complete: bool) -> set[str]:
        """Identity keys (`email:...`, `user:...`, `anon:...`) of the person whose profiles these are: each of
        `candidates` (the keys their profiles list and name) whose record names one of them, or that has no record
        (its tombstone still blocks it); a key whose record names another profile (a lost link race, a device that
        followed another login) is never theirs. Unless `complete` (a profile written before its list existed),
        also every record naming them, found by a Scan of the identities table."""
        ...

    def events(self, profile_ids: list[str]) -> list[TrackedEvent]: ...
    def segment_ids(self, profile_ids: list[str]) -> list[str]:
        """Segments these profiles are members of (duplicates possible, unordered)."""
        ...

    def unlinked_events(self, identity_keys: list[str]) -> list[TrackedEvent]:
        """Events stored unlinked (Global Privacy Control) that were sent under these identity keys: one index
        partition per key (`identity.unlinked_bucket`), kept to the events whose keyed tag matches."""
        ...

    def erase_unlinked_events(self, identity_keys: list[str]) -> int: ...
    def erase_events(self, profile_ids: list[str]) -> int: ...
    def erase_memberships(self, profile_ids: list[str]) -> int: ...
    def tombstone_identity(self, key: str, at: str) -> None:
        """The identity resolves to `erased` from now on (ingest drops its events): its record is replaced by a
        tombstone under a keyed hash of the key (`identity.erased_identity_key`), so nothing is found by the raw id."""
        ...

    def tombstone_profile(self, profile_id: str, version: int, at: str) -> None:
        """Replace the profile by a tombstone without personal data (stream consumers see an exit)."""
        ...
