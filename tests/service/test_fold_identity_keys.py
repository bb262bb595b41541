"""The fold lists every identity key it links on the profile (`Profile.identity_keys`: there is no index by profile),
moves a merged loser's keys to the winner, and refuses a key it could not list."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.profiles import fold_batches
from chalicelib.profiles.model import Profile
from chalicelib.tracking.events import TrackedEvent
from chalicelib.tracking.identity import profile_id_for
from tests.factories import tracked_event
from tests.fakes.profiles import FakeProfileStore
from tests.fakes.tracking import FakeIdentityStore
from tests.service.test_fold import Fold, make_fold

ANON = profile_id_for("anon", "a1")
USER = profile_id_for("user", "u1")


def identify(n: int, profile_id: str, email: str, **fields: Any) -> TrackedEvent:
    return tracked_event(n, profile_id, type="identify", user_id="u1", traits={"email": email}, **fields)


def test_a_new_profile_lists_every_key_it_links_and_is_complete_from_birth() -> None:
    fold = make_fold_with()
    fold.run([identify(0, USER, "one@example.com", anonymous_id="a9")])
    for n, email in enumerate(("two@example.com", "three@example.com"), start=1):
        fold.run([identify(n, USER, email)], first_sequence=10 * n)
    profile = fold.profiles.profile(USER)
    emails = [f"email:{e}@example.com" for e in ("one", "two", "three")]
    assert set(profile.identity_keys) == {"user:u1", "anon:a9", *emails}
    assert profile.identity_keys_complete is True
    assert all(fold.identities.records[key] == USER for key in profile.identity_keys)


class _RacedIdentities(FakeIdentityStore):
    """Another profile claims `email:raced@example.com` between the fold's lookup and its link."""

    def link(self, key: str, profile_id: str, *, only_if_absent: bool, taking_from: str | None = None) -> bool:
        if key == "email:raced@example.com":
            self.records[key] = "p_other"
        return super().link(key, profile_id, only_if_absent=only_if_absent, taking_from=taking_from)


def test_a_key_is_listed_before_its_link_so_a_lost_race_leaves_it_listed_but_anothers() -> None:
    fold = make_fold_with(_RacedIdentities())
    fold.run([identify(0, USER, "raced@example.com")])
    assert "email:raced@example.com" in fold.profiles.profile(USER).identity_keys
    assert fold.identities.records["email:raced@example.com"] == "p_other"  # readers check the record


def test_a_key_beyond_the_cap_is_refused_never_linked_unlisted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fold_batches, "MAX_IDENTITY_KEYS", 3)
    fold = make_fold_with()
    fold.run([identify(0, USER, "one@example.com", anonymous_id="a9")])  # user, email, anon: the cap
    fold.run([identify(1, USER, "two@example.com")], first_sequence=10)
    profile = fold.profiles.profile(USER)
    assert "email:two@example.com" not in profile.identity_keys and len(profile.identity_keys) == 3
    assert "email:two@example.com" not in fold.identities.records


def test_a_legacy_losers_keys_move_by_its_body_and_an_unlisted_one_still_resolves_by_redirect() -> None:
    fold = make_fold_with()
    # A profile written before the list: its body names its current email; an older one was linked unlisted.
    legacy = Profile(profile_id=ANON, anonymous_ids=["a1"], email="new@example.com", created_at="2026-01-01")
    assert fold.profiles.put(legacy, None)
    fold.identities.records.update({"email:old@example.com": ANON, "email:new@example.com": ANON})
    fold.run([tracked_event(0, USER, user_id="u1", anonymous_id="a1")])  # the login: ANON merges into USER
    winner = fold.profiles.profile(USER)
    assert winner.merged_from == [ANON] and winner.identity_keys_complete is False  # erasure will scan
    assert {"anon:a1", "email:new@example.com", "user:u1"} <= set(winner.identity_keys)
    assert fold.identities.records["email:new@example.com"] == USER
    assert fold.identities.records["email:old@example.com"] == ANON  # not known to the merge
    # An event ingest resolved through that record (to the merged-away profile) is folded into the winner, whose
    # fold re-points the record and lists the key.
    fold.run([identify(1, ANON, "old@example.com", anonymous_id="a1")], first_sequence=10)
    assert fold.profiles.profile(USER).computed.type_counts.get("identify") == 1
    assert fold.identities.records["email:old@example.com"] == USER
    assert "email:old@example.com" in fold.profiles.profile(USER).identity_keys


def test_a_merge_lists_the_losers_keys_and_takes_no_record_another_profile_holds() -> None:
    fold = make_fold_with()
    fold.run([tracked_event(0, ANON, anonymous_id="a1", type="identify", traits={"email": "anon@example.com"})])
    assert fold.profiles.profile(ANON).identity_keys == ["email:anon@example.com"]
    fold.identities.records["email:anon@example.com"] = "p_other"  # since claimed elsewhere (a device re-point)
    fold.run([tracked_event(1, USER, user_id="u1", anonymous_id="a1")], first_sequence=10)
    winner = fold.profiles.profile(USER)
    assert winner.identity_keys_complete is True
    assert {"email:anon@example.com", "anon:a1", "user:u1"} <= set(winner.identity_keys)
    assert fold.identities.records["email:anon@example.com"] == "p_other"
    assert fold.identities.records["anon:a1"] == USER


def make_fold_with(identities: FakeIdentityStore | None = None) -> Fold:
    fold = make_fold(FakeProfileStore())
    if identities is not None:
        fold.identities = identities
        fold.service.identities = identities
    return fold
