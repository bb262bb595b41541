"""Ports of the profiles wing: the profile store, the cut points, the sweep's progress and the customer population.

They speak domain (`Profile`, `StoredProfile`, cut points); the DynamoDB adapters in `profiles/adapters/` own the item
layout, and the in-memory fakes in `tests/fakes/profiles.py` honour the same contract (`tests/contract/`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chalicelib.profiles.model import Profile
    from chalicelib.scoring.rfm import GroupCutPoints, RfmCutPoints


class StoredProfile:
    """One profile as stored: its version (what a conditional write checks), whether it was merged away or erased,
    and its body, decoded only when asked for.

    Parameters
    ----------
    profile_id, version, merged_into, erased_at
        The stored profile's state (`merged_into`: the profile it was merged into; `erased_at`: erasure tombstone).
    load
        Decodes the body into a new `Profile` (each call a new object: the fold mutates the one it gets).
    read
        Decodes the body into plain builtins (the JSON form), for readers outside the fold.

    Example
    -------
    >>> stored = profiles.get("p_abc")
    >>> if stored is not None and stored.live:
    ...     print(stored.document()["stage"], stored.version)
    """

    __slots__ = ("profile_id", "version", "merged_into", "erased_at", "_load", "_read")

    def __init__(
        self,
        profile_id: str,
        version: int,
        *,
        load: Callable[[], Profile],
        read: Callable[[], dict[str, Any]],
        merged_into: str | None = None,
        erased_at: str | None = None,
    ) -> None:
        self.profile_id = profile_id
        self.version = version
        self.merged_into = merged_into
        self.erased_at = erased_at
        self._load = load
        self._read = read

    @property
    def erased(self) -> bool:
        return self.erased_at is not None

    @property
    def live(self) -> bool:
        """Neither merged into another profile nor erased: the profile a person's data is read from."""
        return self.merged_into is None and self.erased_at is None

    def profile(self) -> Profile:
        """The body as a `Profile` (with `version` set from the store); a new object on each call, the caller's to
        mutate."""
        return self._load()

    def document(self) -> dict[str, Any]:
        """The body as plain builtins (field names of `Profile.to_json`): for the admin API, delivery and exports."""
        return self._read()

    def __repr__(self) -> str:
        return f"StoredProfile({self.profile_id!r}, version={self.version}, merged_into={self.merged_into!r})"


class ProfileStore(Protocol):
    def get(self, profile_id: str) -> StoredProfile | None:
        """The stored profile, read strongly consistent; None when there is none."""
        ...

    def get_many(self, profile_ids: Iterable[str]) -> dict[str, StoredProfile]:
        """Profile id -> stored profile for those that exist, in as few read requests as possible."""
        ...

    def put(self, profile: Profile, expected_version: int | None) -> bool:
        """Write `profile` (its own `version` is stored) if the stored version still equals `expected_version`
        (None: no profile may exist yet). Returns False on a lost race."""
        ...


class CutPointStore(Protocol):
    def current(self) -> tuple[RfmCutPoints | None, GroupCutPoints | None]:
        """The stored cut points (an adapter may cache them briefly); None for a kind that was never computed."""
        ...

    def save(self, rfm_cut_points: RfmCutPoints, group_cut_points: GroupCutPoints) -> None: ...


@dataclass
class SweepState:
    """`swept_through`: the last day fully swept. `day`/`cursor`: a day in progress and the last profile done."""

    swept_through: str | None = None
    day: str | None = None
    cursor: str | None = None


class SweepStore(Protocol):
    def due_profiles(self, day: str, limit: int, start_after: str | None) -> tuple[list[str], str | None]:
        """One page of profile ids whose `due_day` is `day`, and the page's last id (None: no more pages)."""
        ...

    def load(self) -> SweepState: ...

    def save(self, state: SweepState) -> None: ...


class CustomerFigures(Protocol):
    """One buyer as the cut-point job reads them (the segments wing keeps these rows; its `CustomerRow` fits)."""

    @property
    def profile_id(self) -> str: ...
    @property
    def last_order_ts(self) -> float: ...
    @property
    def orders(self) -> int: ...
    @property
    def revenue(self) -> float: ...
    @property
    def needs_group(self) -> str | None: ...
    @property
    def rfm(self) -> str | None:
        """ "RFM" digits (e.g. "534") as the profile currently carries them."""
        ...

    @property
    def percentile(self) -> float | None: ...


class CustomerPopulation(Protocol):
    def customers(self) -> Iterable[CustomerFigures]:
        """Every buyer, read without scanning whole profiles."""
        ...


# -- backfill: a new or changed segment evaluated over every existing profile ----------------------------------------


class ProfileScan(Protocol):
    def scan_page(
        self, segment: int, total_segments: int, start_after: str | None, limit: int
    ) -> tuple[list[StoredProfile], str | None]:
        """One page of scan segment `segment` of `total_segments` (DynamoDB parallel Scan), starting after the
        profile id `start_after`: the profiles (tombstones and merged-away ones included, the caller skips them) and
        the id to continue after (None: the segment is done). Read eventually consistent: the fold's versioned write
        catches a stale one."""
        ...


@dataclass(frozen=True)
class BackfillTask:
    """One step of one scan segment's chain: scan from after `start_after`; `step` numbers the chain's messages."""

    job_id: str
    segment: int
    total_segments: int
    step: int = 0
    start_after: str | None = None


@dataclass(frozen=True)
class BackfillCursor:
    """Where a scan segment's chain stands: `step` is the next step to run (steps below it are committed),
    `start_after` where it scans from, `sent` the highest step whose message is known to be on the queue, `done`
    whether the segment has been scanned to its end."""

    step: int = 0
    start_after: str | None = None
    sent: int = 0
    done: bool = False


@dataclass(frozen=True)
class BackfillJob:
    job_id: str
    segment_ids: tuple[str, ...]
    reason: str
    total_segments: int
    started_at: str
    segments_done: int = 0
    profiles_evaluated: int = 0
    profiles_written: int = 0
    profiles_skipped: int = 0  # merged away or erased
    finished_at: str | None = None

    @property
    def finished(self) -> bool:
        return self.segments_done >= self.total_segments


class BackfillJobStore(Protocol):
    def create(self, job: BackfillJob) -> None:
        """Store the job and one cursor (step 0, `sent` 0) per scan segment."""
        ...

    def get(self, job_id: str) -> BackfillJob | None: ...

    def recent(self, limit: int) -> list[BackfillJob]:
        """The most recently started jobs, newest first."""
        ...

    def cursor(self, job_id: str, segment: int) -> BackfillCursor | None:
        """The segment's cursor, read strongly consistent; None for an unknown job or segment."""
        ...

    def commit(
        self,
        task: BackfillTask,
        next_start: str | None,
        evaluated: int,
        written: int,
        skipped: int,
    ) -> bool:
        """Atomically: move the cursor from `task.step` to `task.step + 1` (scanning on after `next_start`; None marks
        the segment done) and add the counts to the job (and one to `segments_done` when the segment is done).
        False, and nothing changed, when the cursor is no longer at `task.step` (the step was committed already)."""
        ...

    def mark_sent(self, job_id: str, segment: int, step: int) -> None:
        """Record that the message for `step` is on the queue (never lowers `sent`)."""
        ...

    def finish(self, job_id: str, at: str) -> bool:
        """Set `finished_at` once every segment is done; False when not all are done or it is already set."""
        ...


class BackfillQueue(Protocol):
    def send(self, tasks: list[BackfillTask]) -> None:
        """Put the tasks on the backfill queue; raises when any is refused."""
        ...
