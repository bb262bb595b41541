"""Fold use case against in-memory ports: stream batches become profiles; transient failures are named for a retry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.profiles.fold_batches import FoldService
from chalicelib.profiles.model import Profile
from chalicelib.shared.clock import FakeClock
from chalicelib.tracking.events import TrackedEvent
from chalicelib.tracking.identity import profile_id_for
from tests.factories import T0, stream_record, tracked_event
from tests.fakes.profiles import FakeProfileStore
from tests.fakes.tracking import FakeEventStore, FakeFailedEventStore, FakeIdentityStore

ANON = profile_id_for("anon", "a1")
USER = profile_id_for("user", "u1")


@dataclass
class Fold:
    service: FoldService
    events: FakeEventStore
    identities: FakeIdentityStore
    profiles: FakeProfileStore
    failed: FakeFailedEventStore

    def run(self, events: list[TrackedEvent], first_sequence: int = 1) -> Any:
        """Store the events (as ingest does) and fold their INSERT records as one batch."""
        self.events.put_many(events)
        records = [stream_record(e, first_sequence + n) for n, e in enumerate(events)]
        return self.service.fold_batch(records)

    def counts(self, profile_id: str) -> dict[str, int]:
        return self.profiles.profile(profile_id).computed.event_counts


def viewed(n: int, profile_id: str = ANON, anonymous_id: str = "a1", **fields: Any) -> TrackedEvent:
    return tracked_event(n, profile_id, anonymous_id=anonymous_id, **fields)


@pytest.fixture
def fold() -> Fold:
    return make_fold(FakeProfileStore())


def make_fold(profiles: FakeProfileStore) -> Fold:
    events, identities, failed = FakeEventStore(), FakeIdentityStore(), FakeFailedEventStore()
    clock = FakeClock(T0.replace(hour=18))
    return Fold(FoldService(events, identities, profiles, failed, clock), events, identities, profiles, failed)


def test_a_batch_folds_each_profile_once(fold: Fold) -> None:
    outcome = fold.run([viewed(0), viewed(1), viewed(2), viewed(3, profile_id_for("anon", "b"), "b")])
    assert outcome.retry == frozenset()
    assert (outcome.stats.records, outcome.stats.folded_events, outcome.stats.profiles_written) == (4, 4, 2)
    assert fold.profiles.puts == 2
    assert fold.counts(ANON) == {"Product Viewed": 3}
    assert fold.profiles.profile(ANON).anonymous_ids == ["a1"]


def test_a_replayed_batch_does_not_double_count(fold: Fold) -> None:
    batch = [viewed(0), viewed(1)]
    fold.run(batch)
    version = fold.profiles.profile(ANON).version
    outcome = fold.run(batch)
    assert outcome.retry == frozenset()
    assert fold.counts(ANON) == {"Product Viewed": 2}
    assert fold.profiles.profile(ANON).version == version


def test_modify_records_are_not_folded(fold: Fold) -> None:
    event = viewed(0)
    outcome = fold.service.fold_batch([stream_record(event, 1, name="MODIFY")])
    assert outcome.stats.folded_events == 0
    assert fold.profiles.profiles == {}


def test_a_poison_record_is_parked_and_the_rest_of_the_batch_folds(fold: Fold) -> None:
    poison = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "9", "NewImage": {"body": {"S": "{not json"}}}}
    good = viewed(0)
    fold.events.put_many([good])
    outcome = fold.service.fold_batch([poison, stream_record(good, 10)])
    assert outcome.retry == frozenset()
    assert outcome.stats.poison == 1
    assert fold.failed.errors() == ["poison_record"]
    assert fold.counts(ANON) == {"Product Viewed": 1}


class LosingProfileStore(FakeProfileStore):
    """Every write to one profile loses its race (another writer always got there first)."""

    def __init__(self, loser: str) -> None:
        super().__init__()
        self.loser = loser

    def put(self, profile: Profile, expected_version: int | None) -> bool:
        if profile.profile_id == self.loser:
            self.puts += 1
            return False
        return super().put(profile, expected_version)


def test_lost_write_races_name_only_that_profiles_records_for_a_retry() -> None:
    fold = make_fold(LosingProfileStore(loser=ANON))
    other = profile_id_for("anon", "b")
    outcome = fold.run([viewed(0), viewed(1), viewed(2, other, "b")], first_sequence=100)
    assert outcome.retry == frozenset({"100", "101"})
    assert outcome.stats.failed_records == 2
    assert fold.counts(other) == {"Product Viewed": 1}
    assert fold.failed.rows == []  # transient: retried, not parked


class FailingProfileStore(FakeProfileStore):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def put(self, profile: Profile, expected_version: int | None) -> bool:
        raise self.error


def test_a_storage_error_is_transient_and_retried() -> None:
    from botocore.exceptions import ClientError

    throttled = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": ""}}, "PutItem")
    fold = make_fold(FailingProfileStore(throttled))
    outcome = fold.run([viewed(0)], first_sequence=7)
    assert outcome.retry == frozenset({"7"})
    assert fold.failed.rows == []


def test_a_deterministic_error_is_parked_instead_of_blocking_the_shard() -> None:
    fold = make_fold(FailingProfileStore(ValueError("body over the item budget")))
    outcome = fold.run([viewed(0)], first_sequence=7)
    assert outcome.retry == frozenset()
    assert outcome.stats.poison == 1
    assert fold.failed.errors() == ["fold_failed"]


def test_identify_merges_the_anonymous_history_into_the_users_profile(fold: Fold) -> None:
    fold.run([viewed(0), viewed(1)])
    identify = tracked_event(5, USER, type="identify", user_id="u1", anonymous_id="a1", traits={"email": "A@B.example"})
    outcome = fold.run([identify], first_sequence=50)
    assert outcome.retry == frozenset()
    winner = fold.profiles.profile(USER)
    assert (winner.user_id, winner.email, winner.anonymous_ids) == ("u1", "a@b.example", ["a1"])
    assert winner.merged_from == [ANON]
    assert fold.counts(USER)["Product Viewed"] == 2
    assert fold.profiles.profile(ANON).merged_into == USER
    assert fold.identities.lookup(["anon:a1", "user:u1"]) == {"anon:a1": USER, "user:u1": USER}
    # the anonymous events stay in their profile's partition; the winner's history reads it through merged_from
    assert [e.event for e in fold.events.for_profile(USER) if e.event] == ["Profiles Merged"]
    history = fold.events.history(USER, limit=10, newest_first=False, merged_from=winner.merged_from)
    assert [e.event for e in history if e.event] == ["Product Viewed", "Product Viewed", "Profiles Merged"]


def test_events_for_a_merged_profile_fold_into_the_winner(fold: Fold) -> None:
    fold.run([viewed(0)])
    fold.run([tracked_event(5, USER, type="identify", user_id="u1", anonymous_id="a1")], first_sequence=50)
    late = viewed(9)  # resolved to the anonymous profile before the merge
    outcome = fold.run([late], first_sequence=90)
    assert outcome.retry == frozenset()
    assert fold.counts(USER)["Product Viewed"] == 2
    assert fold.events.items[late.key].profile_id == USER  # its stored copy follows


def test_events_of_an_erased_person_are_deleted_not_folded(fold: Fold) -> None:
    fold.run([viewed(0)])
    fold.profiles.erase(ANON)
    late = viewed(1)
    outcome = fold.run([late], first_sequence=20)
    assert outcome.stats.profiles_written == 0
    assert late.key not in fold.events.items
    assert fold.profiles.get(ANON).erased  # type: ignore[union-attr]


def test_refold_skips_profiles_that_are_gone_merged_or_erased(fold: Fold) -> None:
    fold.run([viewed(0)])
    fold.run([tracked_event(5, USER, type="identify", user_id="u1", anonymous_id="a1")], first_sequence=50)
    assert fold.service.refold("p_nobody") is False
    assert fold.service.refold(ANON) is False  # merged into USER
    fold.profiles.erase(USER)
    assert fold.service.refold(USER) is False
    assert "p_nobody" not in fold.profiles.profiles
