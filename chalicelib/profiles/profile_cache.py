"""Warm-container cache of folded profiles, so a profile that recurs on the same shard is not parsed again.

A shard is processed by one Lambda container at a time, in order, so the profiles it wrote in one batch are very often
the ones it reads in the next. Expanding and parsing a profile body (~14 KB of JSON) is the largest single cost of a
fold; keeping the object the fold just wrote lets the next batch skip it.

Safety rests on one rule: an entry is used only when the body read back from the table is *equal* to the body this
container wrote (equality of the stored bytes is a memcmp, well under 1 µs). Any other writer (another container after
a shard rebalance, a sweep, a merge retiring the profile, an erasure tombstone) changes the body, so its entry is
simply not used. The version number alone is not trusted for this: a rewrite that kept the version would otherwise be
missed.

Entries are taken out (`take`) rather than read, because the fold mutates the profile in place: if that fold then
loses its write race or fails, nothing half-folded is left behind to be reused.

Admission is adaptive. Cached profiles are thousands of long-lived containers each, and the cyclic GC keeps traversing
them: on a shard where profiles rarely recur (1,000 distinct profiles x 1 event) caching every write made the fold ~20%
slower for no hits. So a cheap fingerprint of every body written is remembered (the "ghost" list: strings, no profile
objects), each read records whether the cache would have served it, and objects are kept only while that recurrence
rate (an exponentially weighted mean over ~256 reads) is at least `MIN_RECURRENCE`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.profiles.model import Profile

# A parsed profile takes ~4.7x its JSON body in Python objects (measured: 15.9 KB body -> ~58 KB of objects), and the
# stored body is that JSON LZ4-compressed ~3x (kept for the equality check): 16x the stored size is a safe estimate.
MEMORY_PER_STORED_BYTE = 16
DEFAULT_MAX_ENTRIES = 2000
DEFAULT_MAX_BYTES = 48 * 1024 * 1024  # of a 256 MB Lambda: leaves room for a 10,000-record batch and the runtime
GHOSTS_PER_ENTRY = 4  # ids remembered with a fingerprint only (~300 B each: ~2.5 MB at the defaults) per entry
RECURRENCE_WEIGHT = 1 / 256  # weight of one read in the recurrence rate
MIN_RECURRENCE = 0.5  # below this share of reads served, caching costs more (GC) than the parses it saves
FINGERPRINT_CHARS = 160  # the JSON opens with profile_id, version and updated_at, which LZ4 keeps up front


def _fingerprint(body: bytes | str) -> tuple[int, bytes | str]:
    return len(body), body[:FINGERPRINT_CHARS]


class ProfileCache:
    """LRU of `profile_id -> (body written, Profile object)`, bounded by entry count and estimated bytes, admitting
    objects only while profiles recur (see the module docstring)."""

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        min_recurrence: float = MIN_RECURRENCE,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.min_recurrence = min_recurrence
        self._entries: OrderedDict[str, tuple[bytes | str, Profile]] = OrderedDict()
        self._bytes = 0
        # profile id -> fingerprint of the body written
        self._ghosts: OrderedDict[str, tuple[int, bytes | str]] = OrderedDict()
        self.recurrence = 0.0  # learnt from the reads: a cold container caches nothing until profiles recur
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def estimated_bytes(self) -> int:
        return self._bytes

    def take(self, profile_id: str, body: bytes | str) -> Profile | None:
        """The cached profile if `body` is exactly what was cached for it, else None. Either way the entry is gone."""
        ghost = self._ghosts.get(profile_id)
        would_serve = ghost is not None and ghost == _fingerprint(body)
        self.recurrence += RECURRENCE_WEIGHT * (float(would_serve) - self.recurrence)
        entry = self._entries.pop(profile_id, None)
        if entry is None:
            self.misses += 1
            return None
        self._bytes -= len(entry[0]) * MEMORY_PER_STORED_BYTE
        if entry[0] is not body and entry[0] != body:
            self.misses += 1
            return None
        self.hits += 1
        return entry[1]

    def put(self, profile_id: str, body: bytes | str, profile: Profile) -> None:
        """Remember `profile` as the object whose serialized form is `body` (call only after the write succeeded)."""
        self.discard(profile_id)
        if self.max_entries <= 0:
            return
        self._ghosts[profile_id] = _fingerprint(body)
        self._ghosts.move_to_end(profile_id)
        while len(self._ghosts) > self.max_entries * GHOSTS_PER_ENTRY:
            self._ghosts.popitem(last=False)
        size = len(body) * MEMORY_PER_STORED_BYTE
        if size > self.max_bytes or self.recurrence < self.min_recurrence:
            return
        self._entries[profile_id] = (body, profile)
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, (old_body, _) = self._entries.popitem(last=False)  # least recently written
            self._bytes -= len(old_body) * MEMORY_PER_STORED_BYTE

    def discard(self, profile_id: str) -> None:
        entry = self._entries.pop(profile_id, None)
        if entry is not None:
            self._bytes -= len(entry[0]) * MEMORY_PER_STORED_BYTE

    def clear(self) -> None:
        self._entries.clear()
        self._ghosts.clear()
        self._bytes = 0
        self.recurrence = 0.0
