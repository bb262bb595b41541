"""Warm-container cache of folded profiles, so a profile that recurs on the same shard is not parsed again.

A shard is processed by one Lambda container at a time, in order, so the profiles it wrote in one batch are very often
the ones it reads in the next. Parsing a profile body (pydantic, ~15 KB of JSON) is the largest single cost of a fold;
keeping the object the fold just wrote lets the next batch skip it.

Safety rests on one rule: an entry is used only when the body string read back from the table is *equal* to the body
this container wrote (string equality on ~15 KB is a memcmp, ~1 µs). Any other writer (another container after a shard
rebalance, a sweep, a merge retiring the profile, an erasure tombstone) changes the body, so its entry is simply not
used. The version number alone is not trusted for this: a rewrite that kept the version would otherwise be missed.

Entries are taken out (`take`) rather than read, because the fold mutates the profile in place: if that fold then
loses its write race or fails, nothing half-folded is left behind to be reused.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.domain.profile import Profile

# A parsed profile takes ~4.7x its JSON body in Python objects (measured: 15.9 KB body -> ~58 KB of objects) plus the
# body string kept for the equality check: 6x is a safe estimate.
MEMORY_PER_BODY_CHAR = 6
DEFAULT_MAX_ENTRIES = 2000
DEFAULT_MAX_BYTES = 48 * 1024 * 1024  # of a 256 MB Lambda: leaves room for a 10,000-record batch and the runtime


class ProfileCache:
    """Bounded LRU of `profile_id -> (body written, Profile object)`, bounded by entry count and estimated bytes."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[str, Profile]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def estimated_bytes(self) -> int:
        return self._bytes

    def take(self, profile_id: str, body: str) -> Profile | None:
        """The cached profile if `body` is exactly what was cached for it, else None. Either way the entry is gone."""
        entry = self._entries.pop(profile_id, None)
        if entry is None:
            self.misses += 1
            return None
        self._bytes -= len(entry[0]) * MEMORY_PER_BODY_CHAR
        if entry[0] is not body and entry[0] != body:
            self.misses += 1
            return None
        self.hits += 1
        return entry[1]

    def put(self, profile_id: str, body: str, profile: Profile) -> None:
        """Remember `profile` as the object whose serialized form is `body` (call only after the write succeeded)."""
        self.discard(profile_id)
        size = len(body) * MEMORY_PER_BODY_CHAR
        if size > self.max_bytes or self.max_entries <= 0:
            return
        self._entries[profile_id] = (body, profile)
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, (old_body, _) = self._entries.popitem(last=False)  # least recently written
            self._bytes -= len(old_body) * MEMORY_PER_BODY_CHAR

    def discard(self, profile_id: str) -> None:
        entry = self._entries.pop(profile_id, None)
        if entry is not None:
            self._bytes -= len(entry[0]) * MEMORY_PER_BODY_CHAR

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0
