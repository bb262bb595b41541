"""The fold marks the archive days of the events it folds in the profile it writes, and names the (stored profile id,
day) pairs it covered: the archive lists every other pair in the StateTable, so erasure still finds each line."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.profiles import archived_days
from chalicelib.profiles.model import Profile
from tests.factories import T0, tracked_event
from tests.fakes.profiles import FakeProfileStore
from tests.service.test_fold import ANON, USER, FailingProfileStore, make_fold, viewed

DAY = T0.date().isoformat()
NEXT = (T0 + timedelta(days=1)).date().isoformat()


def test_the_fold_marks_its_events_days_in_the_profile_and_reports_them_covered() -> None:
    fold = make_fold(FakeProfileStore())
    outcome = fold.run([viewed(0), viewed(1), tracked_event(2, ANON, anonymous_id="a1", at=T0 + timedelta(days=1))])
    assert archived_days.days(fold.profiles.profile(ANON).archived_days) == [DAY, NEXT]
    assert outcome.covered == {(ANON, DAY), (ANON, NEXT)}


def test_a_replayed_batch_writes_nothing_and_covers_nothing() -> None:
    fold = make_fold(FakeProfileStore())
    fold.run([viewed(0)])
    outcome = fold.run([viewed(0)], first_sequence=20)
    assert outcome.stats.profiles_written == 0 and outcome.covered == frozenset()


def test_a_line_redirected_to_the_winner_of_a_merge_is_not_covered_under_its_stored_id() -> None:
    fold = make_fold(FakeProfileStore())
    fold.run([viewed(0)])
    fold.run([tracked_event(5, USER, type="identify", user_id="u1", anonymous_id="a1")], first_sequence=50)
    late = viewed(9)  # stored (and archived) under the anonymous profile, folded into the user's
    outcome = fold.run([late], first_sequence=90)
    assert outcome.stats.profiles_written == 1
    assert archived_days.has(fold.profiles.profile(USER).archived_days, DAY)
    assert outcome.covered == frozenset()  # the archive keeps (ANON, day) in its day list


def test_the_winner_of_a_merge_holds_the_losers_days() -> None:
    fold = make_fold(FakeProfileStore())
    fold.run([tracked_event(0, ANON, anonymous_id="a1", at=T0 - timedelta(days=3))])
    fold.run([tracked_event(5, USER, type="identify", user_id="u1", anonymous_id="a1")], first_sequence=50)
    earlier = (T0 - timedelta(days=3)).date().isoformat()
    assert archived_days.days(fold.profiles.profile(USER).archived_days) == [earlier, DAY]
    assert archived_days.days(fold.profiles.profile(ANON).archived_days) == [earlier]  # its tombstone keeps them


def test_a_parked_or_unwritten_events_pair_is_not_covered() -> None:
    parked = make_fold(FailingProfileStore(ValueError("body over the item budget")))
    outcome = parked.run([viewed(0)], first_sequence=7)
    assert outcome.stats.poison == 1 and outcome.covered == frozenset()

    class RefusesOne(FakeProfileStore):
        """Writes every profile but one person's, whose fold parks."""

        def put(self, profile: Profile, expected_version: int | None) -> bool:
            if profile.profile_id == USER:
                raise ValueError("a cap is missing")
            return super().put(profile, expected_version)

    fold = make_fold(RefusesOne())
    outcome = fold.run([viewed(0), tracked_event(1, USER, user_id="u1")])
    assert outcome.covered == {(ANON, DAY)}
