"""Slots: the packaged file is valid and its schema current; rules over the profile choose each slot's content."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.personalization import PersonalizationService, SlotConfigError, load_slots, parse_slots
from chalicelib.personalization.slots import SCHEMA_FILE, schema_text
from chalicelib.profiles.model import ComputedTraits, Profile, ViewedProduct
from chalicelib.recommendations import RecommendationService
from chalicelib.shared.clock import FakeClock
from chalicelib.tracking.identity import identity_key, profile_id_for
from tests.fakes.profiles import FakeProfileStore
from tests.fakes.recommendations import InMemorySimilarItems
from tests.fakes.tracking import FakeIdentityStore

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_the_packaged_slots_are_valid_and_the_committed_schema_is_current():
    # Run `python -m chalicelib.personalization.slots` after changing the model.
    assert set(load_slots()) >= {"hero", "recs", "banner"}
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text()


def test_a_bad_slot_file_is_refused_naming_the_problem():
    with pytest.raises(SlotConfigError, match="unknown field root"):
        parse_slots(
            {
                "slots": [
                    {
                        "id": "hero",
                        "default": {"id": "d"},
                        "variants": [{"id": "v", "when": {"field": "activity.cart", "op": "exists"}}],
                    }
                ]
            }
        )
    with pytest.raises(SlotConfigError, match="duplicate"):
        parse_slots({"slots": [{"id": "a", "default": {"id": "d"}}, {"id": "a", "default": {"id": "d"}}]})


@pytest.fixture
def world():
    profiles, identities = FakeProfileStore(), FakeIdentityStore()
    service = PersonalizationService(
        profiles=profiles,
        identities=identities,
        recommendations=RecommendationService(InMemorySimilarItems()),
        slots=load_slots,
        clock=FakeClock(NOW),
    )
    return service, profiles, identities


def put(profiles: FakeProfileStore, profile_id: str, **computed) -> None:
    assert profiles.put(Profile(profile_id=profile_id, computed=ComputedTraits(**computed)), None)


def chosen(service, anon=None, user=None) -> dict:
    body = service.personalize(anon, user, ["hero", "recs", "banner", "nope"])
    return {k: v.get("variant") for k, v in body["slots"].items()}


def test_an_unknown_visitor_gets_every_default_and_an_unknown_slot_nothing(world):
    service, _, _ = world
    assert chosen(service, "nobody") == {"hero": "first_visit", "recs": "popular", "banner": "newsletter", "nope": None}
    assert service.personalize(None, None, ["nope"])["slots"] == {"nope": {}}


def test_the_first_rule_that_holds_wins_in_order(world):
    service, profiles, _ = world
    put(
        profiles,
        profile_id_for("anon", "browsing"),
        sessions=1,
        viewed_products=[ViewedProduct(product_id="p", at="2026-12-01T11:00:00.000Z")],
    )
    put(profiles, profile_id_for("anon", "carting"), sessions=3, cart_quantity=2, top_categories=["tea"])
    assert chosen(service, "browsing")["hero"] == "returning_visitor"
    assert chosen(service, "browsing")["recs"] == "for_you"
    assert chosen(service, "carting") == {
        "hero": "cart_waiting",
        "recs": "for_you",
        "banner": "tea_lover",
        "nope": None,
    }


def test_a_user_whose_profile_began_anonymous_is_found_through_their_identity_record(world):
    service, profiles, identities = world
    anon_profile = profile_id_for("anon", "first-device")
    put(profiles, anon_profile, sessions=2, orders=1)
    identities.link(identity_key("user", "u-1"), anon_profile, only_if_absent=True)
    body = service.personalize(None, "u-1", ["hero"])
    assert body["visitor"] == {"known": True, "first_visit": False}
    assert body["slots"]["hero"]["variant"] == "welcome_back_customer"
