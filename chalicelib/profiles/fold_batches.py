"""Fold use case: events-stream batches become profiles (identity links and merges, traits, scores, segments).

Per batch: group new events by profile, read each profile once, fold in memory, write each changed profile once with a
version condition. A replayed or overlapping batch changes nothing (the profile remembers applied event keys), a
poison record goes to the failed-events store, and only transient failures are reported back for a retry.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.profiles.model import Profile
from chalicelib.profiles.redirects import follow_merges
from chalicelib.tracking.events import StreamEvent, TrackedEvent, new_events_image
from chalicelib.tracking.identity import (
    ERASED,
    IdentityKind,
    LinkDecision,
    decide_link,
    identity_key,
    profile_id_for,
)

if TYPE_CHECKING:
    from chalicelib.predictions.ports import ModelStore, PropensityStore
    from chalicelib.profiles.ports import CutPointStore, ProfileStore, StoredProfile
    from chalicelib.profiles.segmentation import SegmentDef
    from chalicelib.shared.clock import Clock
    from chalicelib.tracking.ports import EventStore, FailedEventStore, IdentityStore

log = logging.getLogger("one2one")

MAX_ATTEMPTS = 4
# Identity keys a profile may list (`Profile.identity_keys`) before a new one is refused rather than linked: the
# anonymous ids are capped lower (`max_anonymous_ids`) and a person's userId and emails change rarely, so this stops
# only a sender minting identities for one person. A merge never refuses: it lists the loser's keys beyond it.
MAX_IDENTITY_KEYS = 100
_SEGMENT_KINDS = ("segment_entered", "segment_exited")


class TransientFoldError(Exception):
    """The group could not be written now (lost races, throttling): report its records for a retry."""


@dataclass
class LinkPlan:
    """Identity work decided before the profile write and carried out after it succeeds."""

    links: list[tuple[str, bool]] = field(default_factory=list)  # (identity key, only_if_absent)
    merges: list[Profile] = field(default_factory=list)  # losers folded into this profile
    refused_anon: set[str] = field(default_factory=set)
    defer_to: str | None = None  # a known person's profile this anonymous group belongs to


@dataclass
class FoldStats:
    records: int = 0
    folded_events: int = 0
    profiles_written: int = 0
    merges: int = 0
    poison: int = 0
    failed_records: int = 0
    # Profiles whose `last_seen` this batch moved onto a new UTC day, by that day: the console's active profiles per
    # day (`engagement/daily.py`), counted from what the fold already knows, at no extra read.
    newly_active: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FoldOutcome:
    """What became of a batch: `retry` holds the sequence numbers of the records that failed transiently (lost write
    races, throttling) and must be delivered again; every other record is folded, skipped or parked as poison."""

    retry: frozenset[str]
    stats: FoldStats
    # Keys of events deleted because their person is erased: the event archive leaves them out too.
    dropped: frozenset[str] = frozenset()
    # (profile id, day) pairs of the batch's events whose profile this batch wrote with that day in its
    # `archived_days`, by the id the events were stored under (the archived line's): the archive need not list those
    # in the StateTable. A redirected, deferred, parked or unwritten event's pair is not in it.
    covered: frozenset[tuple[str, str]] = frozenset()


def event_identities(event: TrackedEvent) -> list[tuple[IdentityKind, str]]:
    out: list[tuple[IdentityKind, str]] = []
    if event.user_id:
        out.append(("user", event.user_id))
    if event.email:
        out.append(("email", event.email))
    if event.anonymous_id:
        out.append(("anon", event.anonymous_id))
    if event.type == "alias" and event.previous_id:
        # previousId is usually the anonymous id a user had before; a previous userId resolves through its record.
        out.append(("anon", event.previous_id))
    return out


def _has_every_identity(profile: Profile, events: list[TrackedEvent]) -> bool:
    """`profile_has` of every identity in `event_identities` of every event, without building them (once per fold)."""
    anonymous_ids = profile.anonymous_ids
    for event in events:
        if event.user_id and event.user_id != profile.user_id:
            return False
        if event.anonymous_id and event.anonymous_id not in anonymous_ids:
            return False
        if event.traits or event.context.get("traits"):  # only then can an event carry an email
            email = event.email
            if email and email != profile.email:
                return False
        if event.type == "alias" and event.previous_id and event.previous_id not in anonymous_ids:
            return False
    return True


def profile_has(profile: Profile, kind: IdentityKind, value: str) -> bool:
    if kind == "user":
        return profile.user_id == value
    if kind == "email":
        return profile.email == value
    return value in profile.anonymous_ids


class FoldService:
    def __init__(
        self,
        events: EventStore,
        identities: IdentityStore,
        profiles: ProfileStore,
        failed: FailedEventStore,
        clock: Clock,
        max_anonymous_ids: int = 25,
        config: Any = None,
        cut_points: CutPointStore | None = None,
        models: ModelStore | None = None,
        segments: Callable[[], Sequence[SegmentDef]] | None = None,
        propensity: PropensityStore | None = None,
    ) -> None:
        self.events = events
        self.identities = identities
        self.profiles = profiles
        self.failed = failed
        self.clock = clock
        self.max_anonymous_ids = max_anonymous_ids
        self._config = config
        self.cut_points = cut_points
        self.models = models  # fitted CLV models: every fold of a buyer refreshes their predictions
        self.propensity = propensity  # fitted propensity / uplift models (coefficients: evaluated in pure Python)
        # The effective segments (files overlaid by stored definitions): a per-container cache whose call is a clock
        # comparison between revision checks, so asking it per profile adds no read per record.
        self._segments = segments
        self._seen_segments: Sequence[SegmentDef] | None = None
        self._with_segments: Any = None
        self.last_stats = FoldStats()
        self._stats: FoldStats | None = None  # the batch being folded (activity is noted on it)
        self._dropped: set[str] = set()
        self._written_days: dict[str, bytes] = {}  # profile id -> `archived_days` of its last write in this batch

    @property
    def config(self) -> Any:
        if self._config is None:
            from chalicelib.profiles.config import load_profile_config

            self._config = load_profile_config()
        if self._segments is None:
            return self._config
        segments = self._segments()
        if segments is not self._seen_segments:
            base = self._config
            self._with_segments = base.model_copy(
                update={"segments": base.segments.model_copy(update={"segments": list(segments)})}
            )
            self._seen_segments = segments
        return self._with_segments

    # -- entry point -------------------------------------------------------------------------------------------------
    def fold_batch(self, records: Sequence[Mapping[str, Any]]) -> FoldOutcome:
        """Fold a batch of events-table change records (stream records: `eventName`, `dynamodb.NewImage`,
        `dynamodb.SequenceNumber`); only INSERTs are new events.

        The whole batch is folded at once, grouped by profile, so that each profile is read and written once.
        """
        _ = self.config  # a broken config must fail the batch loudly (ConfigError), not park every event as poison
        stats = FoldStats()
        stats.records = len(records)
        self._stats = stats
        self._dropped = set()
        self._written_days = {}
        stored_under: list[tuple[str, TrackedEvent]] = []  # the profile id each event's item names, before redirects
        by_profile: dict[str, list[tuple[str, TrackedEvent]]] = defaultdict(list)
        for record in records:
            if new_events_image(record) is None:
                continue  # MODIFY = a duplicate overwrote itself; a moved item's INSERT: history re-pointed, folded
            sequence = record.get("dynamodb", {}).get("SequenceNumber", "")
            try:
                # One event, or a group item's (a request's events of one profile): retried together, per record.
                stored = StreamEvent.all_from_stream_image(record["dynamodb"]["NewImage"])
            except Exception as exc:  # noqa: BLE001 - anything unreadable is poison, kept and skipped
                stats.poison += 1
                self.failed.record(None, {"error": "poison_record", "message": str(exc)[:500]}, record)
                continue
            for tracked in stored:
                if tracked.profile_id.startswith("unlinked#"):
                    continue  # Global Privacy Control: stored for aggregate counts, tied to no one, never folded
                by_profile[tracked.profile_id].append((sequence, tracked))
                stored_under.append((tracked.profile_id, tracked))
        failures: list[str] = []
        fetched: dict[str, StoredProfile] = {}
        groups = self._redirect(by_profile, fetched)
        for profile_id, entries in groups.items():
            events = [e for _, e in entries]
            try:
                written = self.fold_profile(profile_id, events, fetched.get(profile_id))
                stats.profiles_written += int(written)
                stats.folded_events += len(events)
            except TransientFoldError as exc:
                log.warning("fold of %s deferred: %s", profile_id, exc)
                failures.extend(seq for seq, _ in entries)
            except Exception as exc:
                if _is_transient(exc):
                    log.warning("fold of %s deferred: %s", profile_id, type(exc).__name__)
                    failures.extend(seq for seq, _ in entries)
                else:
                    # A deterministic failure would fail on every retry and block the shard: fold the person's
                    # events one by one, so only the event that cannot be folded is parked.
                    log.exception("fold of %s failed; folding its %d events one by one", profile_id, len(entries))
                    parked, retried = self._fold_one_by_one(profile_id, entries, stats)
                    failures.extend(retried)
                    stats.poison += parked
        retry = frozenset(failures)
        stats.failed_records = len(retry)
        self.last_stats = stats
        return FoldOutcome(retry, stats, frozenset(self._dropped), self._covered(stored_under))

    def _covered(self, stored_under: list[tuple[str, TrackedEvent]]) -> frozenset[tuple[str, str]]:
        """The (stored profile id, day) pairs a profile written in this batch holds in its `archived_days`: the
        profile written under the very id the archive files the line by (one an event was redirected or deferred
        from is not written here, so its pair stays out)."""
        from chalicelib.profiles import archived_days

        covered: set[tuple[str, int]] = set()
        for profile_id, event in stored_under:
            bitmap = self._written_days.get(profile_id)
            if bitmap:
                number = archived_days.day_number(event.timestamp.timestamp())
                if archived_days.has_number(bitmap, number):
                    covered.add((profile_id, number))
        return frozenset((profile_id, archived_days.day_of_number(n)) for profile_id, n in covered)

    def _fold_one_by_one(
        self, profile_id: str, entries: list[tuple[str, TrackedEvent]], stats: FoldStats
    ) -> tuple[int, list[str]]:
        """Fold each event alone (reading the profile each time): park those that fail deterministically, report the
        ones hit by a transient failure for a retry. Returns (parked, sequence numbers to retry)."""
        parked, retry = 0, []
        for sequence, event in entries:
            try:
                stats.profiles_written += int(self.fold_profile(profile_id, [event], None))
                stats.folded_events += 1
            except Exception as exc:  # noqa: BLE001 - sorted below: transient (retry) or this event's own fault (park)
                if isinstance(exc, TransientFoldError) or _is_transient(exc):
                    retry.append(sequence)
                    continue
                parked += 1
                reason = {"error": "fold_failed", "message": f"{type(exc).__name__}: {str(exc)[:300]}"}
                self.failed.record(event.source_id, reason, event.to_json())
        return parked, retry

    def _redirect(
        self, groups: dict[str, list[tuple[str, TrackedEvent]]], fetched: dict[str, StoredProfile] | None = None
    ) -> dict[str, list[tuple[str, TrackedEvent]]]:
        """Events resolved (at ingest) to a profile that has since been merged away belong to the winner.

        The profiles read on the way are put in `fetched` (target id -> stored profile), so the fold need not read
        them again.
        """
        stored = self.profiles.get_many(groups) if groups else {}
        out: dict[str, list[tuple[str, TrackedEvent]]] = defaultdict(list)
        moved: list[tuple[TrackedEvent, str]] = []
        for profile_id, entries in groups.items():
            target, found = follow_merges(self.profiles, profile_id, stored.get(profile_id))
            if fetched is not None and found is not None:
                fetched[target] = found
            for seq, tracked in entries:
                if target != profile_id:
                    moved.append((tracked, target))
                    tracked.profile_id = target
                out[target].append((seq, tracked))
        if moved:
            self.events.put_many([e for e, _ in moved])  # move their stored copies (marked moved: not folded again)
        return out

    # -- one profile ---------------------------------------------------------------------------------------------
    def fold_profile(
        self,
        profile_id: str,
        events: list[TrackedEvent],
        prefetched: StoredProfile | None = None,
        absorb: str | None = None,
        backfill_of: Collection[str] = (),
    ) -> bool:
        """Fold events into one profile; returns whether the profile was written.

        `prefetched` is the stored profile the batch already read: the first attempt uses it (the version condition on
        the write still catches a concurrent change, and the retry reads again), which halves the read units of a fold.
        `backfill_of`: segments a backfill re-evaluates; their entries and exits are recorded `by: "backfill"`.
        """
        from chalicelib.profiles.fold import fold  # lazy: the module pulls in the fold's rules
        from chalicelib.profiles.merge import merge_profiles

        now = self.clock.now()
        for attempt in range(MAX_ATTEMPTS):
            stored = prefetched if attempt == 0 and prefetched is not None else self.profiles.get(profile_id)
            if stored is not None and stored.erased:
                # Erased person: events that were in flight when the erasure ran are deleted, never folded (with the
                # items they are in: a group holds one profile's events).
                self.events.delete([e.stored_in() for e in events])
                self._dropped.update(e.key for e in events)
                return False
            current = stored.profile() if stored is not None else None
            expected = current.version if current else None
            # A profile born now lists every key linked to it from the start (see `Profile.identity_keys_complete`).
            base = current or Profile(profile_id=profile_id, identity_keys_complete=True)
            plan = self._plan_links(base, events)
            if plan.defer_to and absorb is None:
                for tracked in events:
                    tracked.profile_id = plan.defer_to
                self.events.put_many(events)  # their stored copies follow (marked moved: never folded twice)
                return self.fold_profile(plan.defer_to, events, absorb=profile_id if current else "")
            if absorb:
                absorbed = self.profiles.get(absorb)
                if absorbed is not None and absorbed.live:
                    plan.merges.append(absorbed.profile())
            for loser in plan.merges:
                if loser.profile_id not in base.merged_from:
                    base = merge_profiles(base, loser)
            seen_before = base.computed.last_seen  # `fold` below works in place
            rfm_cut_points, group_cut_points = self.cut_points.current() if self.cut_points else (None, None)
            clv_models = self.models.current() if self.models else None
            propensity_models = self.propensity.current() if self.propensity else None
            # In place: `base` was just read (or built) for this attempt, so fold need not copy it (a JSON round trip).
            result = fold(
                base if (current or plan.merges) else None,
                profile_id,
                events,
                self.config,
                now,
                rfm_cut_points,
                group_cut_points,
                in_place=True,
                clv_models=clv_models,
                propensity_models=propensity_models,
            )
            profile = result.profile
            if profile is not base:  # built anew by `fold` (no stored profile, no merge): listed from birth
                profile.identity_keys_complete = base.identity_keys_complete
            if plan.links:
                # Listed before they are linked (the links follow this write): a reader checks each key's record.
                profile.identity_keys = list(dict.fromkeys([*profile.identity_keys, *(k for k, _ in plan.links)]))
            if plan.refused_anon:
                profile.anonymous_ids = [a for a in profile.anonymous_ids if a not in plan.refused_anon]
            if not result.changed and not plan.merges and not plan.links:
                return False
            if backfill_of:
                for transition in result.transitions:
                    if transition.kind in _SEGMENT_KINDS and transition.name in backfill_of:
                        transition.by = "backfill"
            if expected is not None and profile.version == expected:
                profile.version = expected + 1  # merges or links alone still need a new version
            if self.profiles.put(profile, expected):
                self._written_days[profile.profile_id] = profile.archived_days
                self._carry_out(profile, plan, now)
                self._note_activity(seen_before, profile.computed.last_seen)
                return True
        raise TransientFoldError(f"lost {MAX_ATTEMPTS} write races")

    def _note_activity(self, before: str | None, after: str | None) -> None:
        """Count a profile active on the day its `last_seen` moved onto (once a day: later folds that day find it
        there; events dated in the past leave `last_seen` where it was and count nothing)."""
        stats = self._stats
        if stats is None or not after or (before and before[:10] >= after[:10]):
            return
        stats.newly_active[after[:10]] = stats.newly_active.get(after[:10], 0) + 1

    def refold(
        self, profile_id: str, prefetched: StoredProfile | None = None, *, backfill_of: Collection[str] = ()
    ) -> bool:
        """Re-evaluate with no events (the due-day sweep, new cut points, a segment backfill): time-based state and
        every segment. Returns whether the profile was written: a refold that changes nothing writes nothing.

        A profile that is gone, merged away or erased is skipped, so a stale index entry never creates or revives one.
        `prefetched` (a scanned item, possibly stale) spares the read; the versioned write still catches a newer one.
        `backfill_of`: the segments a backfill re-evaluates (see `fold_profile`).
        """
        stored = prefetched if prefetched is not None else self.profiles.get(profile_id)
        if stored is None or not stored.live:
            return False
        return self.fold_profile(profile_id, [], prefetched=stored, backfill_of=backfill_of)

    def _plan_links(self, profile: Profile, events: list[TrackedEvent]) -> LinkPlan:
        plan = LinkPlan()
        if _has_every_identity(profile, events):
            return plan  # the usual case: every identity the events carry is already this profile's
        wanted: dict[str, tuple[IdentityKind, str]] = {}
        for tracked in sorted(events, key=lambda e: e.timestamp):
            for kind, value in event_identities(tracked):
                if not profile_has(profile, kind, value):
                    wanted.setdefault(identity_key(kind, value), (kind, value))
        if not wanted:
            return plan
        records = self.identities.lookup(list(wanted))
        candidates = {key: records.get(key) or profile_id_for(kind, value) for key, (kind, value) in wanted.items()}
        others = self.profiles.get_many(pid for pid in candidates.values() if pid != profile.profile_id)
        anon_count = len(profile.anonymous_ids)
        user_id = profile.user_id or next((v for k, v in wanted.values() if k == "user"), None)
        for key, (kind, value) in wanted.items():
            other_id = candidates[key]
            first = others.get(other_id) if other_id != profile.profile_id else None
            other_id, found = follow_merges(self.profiles, other_id, first, stop_at=profile.profile_id)
            if records.get(key) == ERASED or (found is not None and found.erased):
                # An erased person's identity never comes back: not linked, not merged (its tombstone has no raw
                # key a conditional write could trip on, so the fold must ask).
                log.info("identity %s not linked to %s: erased", kind, profile.profile_id)
                if kind == "anon":
                    plan.refused_anon.add(value)
                continue
            other = found.profile() if found is not None else None
            needs_record = key not in records or records[key] != profile.profile_id
            cap = self.max_anonymous_ids
            if other_id == profile.profile_id:
                decision = LinkDecision("none")
            elif other is None:
                decision = decide_link(kind, user_id, anon_count, None, None, profile.profile_id, cap)
            else:
                decision = decide_link(kind, user_id, anon_count, other_id, other.user_id, profile.profile_id, cap)
            listed = len(profile.identity_keys) + len(plan.links)
            if decision.action == "attach" and key not in profile.identity_keys and listed >= MAX_IDENTITY_KEYS:
                decision = LinkDecision("refuse", "identity_key_cap")  # never linked unlisted: erasure would miss it
            if decision.action == "refuse":
                log.info("identity %s not linked to %s: %s", kind, profile.profile_id, decision.reason)
                if kind == "anon":
                    plan.refused_anon.add(value)
                continue
            if decision.action == "merge" and other is not None and other.user_id and not user_id:
                # An anonymous group meeting a known person's profile joins it, never the reverse: the person keeps
                # their profile id (events ingested before the device was linked arrive here).
                plan.defer_to = other_id
                return plan
            if decision.action == "merge" and other is not None:
                plan.merges.append(other)
            if needs_record and (kind != "anon" or profile_id_for("anon", value) != profile.profile_id):
                # Only "attach" may lose a race to another profile; a merge or a device re-point takes the key over.
                plan.links.append((key, decision.action == "attach"))
            if kind == "anon":
                anon_count += 1
        return plan

    def _carry_out(self, profile: Profile, plan: LinkPlan, now: datetime) -> None:
        """After the winner is safely written: point identities at it, retire the losers, move their history."""
        for key, only_if_absent in plan.links:
            if not self.identities.link(key, profile.profile_id, only_if_absent=only_if_absent):
                log.info("identity %s was claimed by another profile first", key.split(":", 1)[0])
        if plan.merges:
            from chalicelib.profiles.merge import body_identity_keys
        for loser in plan.merges:
            # The loser's keys (its list, and what its body names: all that a body written before the list can say;
            # its superseded emails then stay pointing at the loser, which `follow_merges` resolves here). A key only
            # moves if it is unlinked or still the loser's: one listed by a lost race, or a device that followed
            # another login, stays with its profile.
            for key in dict.fromkeys([*loser.identity_keys, *body_identity_keys(loser)]):
                self.identities.link(key, profile.profile_id, only_if_absent=True, taking_from=loser.profile_id)
            self._retire(loser, profile.profile_id)
            # The loser's event items stay in its partition: the winner lists it in `merged_from`, which history
            # readers and erasure follow. Moving them cost a Put and a Delete per item (~$0.03 per million events in
            # the realistic bench, and a whole history's worth of writes when two long-lived profiles meet).
            self._audit_merge(profile, loser, now)

    def _retire(self, loser: Profile, winner_id: str) -> None:
        for _ in range(MAX_ATTEMPTS):
            stored = self.profiles.get(loser.profile_id)
            if stored is None or stored.merged_into is not None:
                return
            current = stored.profile()
            expected = stored.version
            current.merged_into = winner_id
            current.version = expected + 1
            if self.profiles.put(current, expected):
                return
        raise TransientFoldError(f"could not retire merged profile {loser.profile_id}")

    def _audit_merge(self, winner: Profile, loser: Profile, now: datetime) -> None:
        """Every merge is an event on the winner with both ids, so it can be audited (and later undone)."""
        audit = TrackedEvent(
            message_id=f"merge-{loser.profile_id}-into-{winner.profile_id}",
            source_id="system",
            type="track",
            profile_id=winner.profile_id,
            timestamp=now,
            received_at=now,
            event="Profiles Merged",
            properties={
                "winner_profile_id": winner.profile_id,
                "loser_profile_id": loser.profile_id,
                "loser_user_id": loser.user_id,
                "loser_email": loser.email,
                "loser_anonymous_ids": loser.anonymous_ids,
            },
            flags=["system"],
        )
        self.events.put_new(audit)


def _is_transient(exc: Exception) -> bool:
    from chalicelib.shared.faults import is_transient

    return isinstance(exc, TransientFoldError) or is_transient(exc)
