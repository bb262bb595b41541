"""The fold's shortcut for "every identity these events carry is already this profile's" agrees with the long way."""

from __future__ import annotations

import itertools

from chalicelib.profiles.fold_batches import _has_every_identity, event_identities, profile_has
from chalicelib.profiles.model import Profile
from tests.unit.profiles.support import make_event


def _long_way(profile: Profile, events) -> bool:
    return all(profile_has(profile, kind, value) for e in events for kind, value in event_identities(e))


def test_the_shortcut_agrees_with_event_identities_for_every_kind_of_identity():
    profile = Profile(profile_id="p1", user_id="u1", email="a@example.com", anonymous_ids=["anon-1", "anon-2"])
    users, anons = [None, "u1", "u2"], [None, "anon-2", "anon-9"]
    emails = [{}, {"traits": {"email": "A@example.com"}}, {"traits": {"email": "b@example.com"}}, {"traits": {}}]
    emails += [{"context": {"traits": {"email": "b@example.com"}}}, {"traits": {"email": "not-an-email"}}]
    kinds = [("track", None), ("alias", "anon-1"), ("alias", "anon-7"), ("identify", None)]
    checked = 0
    for user, anon, where, (kind, previous) in itertools.product(users, anons, emails, kinds):
        event = make_event(kind, "Signed Up" if kind == "track" else None, user_id=user, anonymous_id=anon, **where)
        event.previous_id = previous
        for events in ([event], [make_event(user_id="u1", anonymous_id="anon-1"), event]):
            assert _has_every_identity(profile, events) is _long_way(profile, events), (user, anon, where, kind)
            checked += 1
    assert checked == 2 * 3 * 3 * 6 * 4
