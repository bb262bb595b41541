"""The catalog interest index as the scenarios reader writes it: only for people a catalog scenario can reach, with
their earlier views and cart brought in when they become reachable or a merge brings another profile's in.

Profiles are real folds (and merges) of real events, read by the service from their stream images."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.profiles import codec
from chalicelib.profiles.config import ProfileConfig
from chalicelib.profiles.fold import fold
from chalicelib.profiles.merge import merge_profiles
from chalicelib.profiles.model import Profile
from chalicelib.scenarios.definitions import Scenario
from chalicelib.scenarios.loader import parse_scenario
from chalicelib.scenarios.triggers import ScenarioService
from chalicelib.shared.clock import FakeClock
from chalicelib.tracking.events import TrackedEvent
from tests.fakes.catalog import InMemoryInterestIndex
from tests.fakes.scenarios import EventShelf, InMemoryRunStore, RecordingStepQueue

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CONFIG = ProfileConfig()


def catalog_scenario(channel: str, interest: list[str] | None = None, marketing: bool = True) -> Scenario:
    when: dict[str, Any] = {"type": "price_drop", "percent": 10, "within": "30d"}
    if interest is not None:
        when["interest"] = interest
    return parse_scenario(
        {
            "id": f"drop_{channel}",
            "name": "Price drop",
            "when": when,
            "steps": [{"type": "send", "channel": channel, "template": "t"}],
            "marketing": marketing,
        }
    )


class Person:
    """One profile folded event by event; each fold's stream record (old and new image) goes to the service."""

    def __init__(self, profile_id: str) -> None:
        self.profile_id = profile_id
        self.profile: Profile | None = None
        self.item: dict[str, Any] | None = None
        self.shelf = EventShelf()
        self.n = 0

    def event(self, name: str, at: datetime, kind: str = "track", **fields: Any) -> TrackedEvent:
        self.n += 1
        return TrackedEvent(
            message_id=f"{self.profile_id}-{self.n}",
            source_id="web",
            type=kind,  # type: ignore[arg-type]
            profile_id=self.profile_id,
            timestamp=at,
            received_at=at,
            event=name if kind == "track" else None,
            **fields,
        )

    def version(self, profile: Profile, folded: list[TrackedEvent]) -> dict[str, Any]:
        """The stream record of writing `profile` over the current version."""
        self.shelf.add(*folded)
        old, self.item, self.profile = self.item, codec.to_item(profile), profile
        data: dict[str, Any] = {"SequenceNumber": str(profile.version), "NewImage": self.item}
        if old is not None:
            data["OldImage"] = old
        return {"eventName": "MODIFY" if old else "INSERT", "dynamodb": data}

    def folds(self, *events: TrackedEvent) -> dict[str, Any]:
        result = fold(self.profile, self.profile_id, list(events), CONFIG, NOW)
        return self.version(result.profile, list(events))

    def views(self, *products: str, at: datetime) -> dict[str, Any]:
        return self.folds(*(self.event("Product Viewed", at, properties={"product_id": p}) for p in products))

    def identifies(self, at: datetime, **traits: Any) -> dict[str, Any]:
        return self.folds(self.event("", at, kind="identify", traits=traits))

    def signs_up(self, at: datetime, email: str) -> dict[str, Any]:
        """Identifies with an email and subscribes to mail (marketing needs the consent)."""
        return self.folds(
            self.event("", at, kind="identify", traits={"email": email}), self.event("Email Subscribed", at)
        )


def service(index: InMemoryInterestIndex, person: Person, *scenarios: Scenario) -> ScenarioService:
    return ScenarioService(
        runs=InMemoryRunStore(),
        read_events=person.shelf,
        queue=RecordingStepQueue(),
        clock=FakeClock(NOW),
        scenarios=list(scenarios),
        interests=index,
    )


def indexed(index: InMemoryInterestIndex) -> dict[tuple[str, str], dict[str, Any]]:
    return {key: {k: v for k, v in item.items() if k != "expires_at"} for key, item in index.items.items()}


@pytest.fixture
def index() -> InMemoryInterestIndex:
    return InMemoryInterestIndex()


def test_an_anonymous_viewer_writes_no_interest_item(index: InMemoryInterestIndex) -> None:
    # GIVEN an email price-drop scenario and an anonymous visitor
    visitor = Person("anon-1")
    consumer = service(index, visitor, catalog_scenario("email"))
    # WHEN they view products, over two visits
    assert consumer.process_records([visitor.views("p1", "p2", at=NOW - timedelta(days=2))]) == []
    assert consumer.process_records([visitor.views("p3", at=NOW - timedelta(days=1))]) == []
    # THEN nothing is written: no catalog scenario could reach them
    assert index.items == {} and index.writes == 0


def test_identifying_with_an_email_brings_the_earlier_views_and_cart_into_the_index(
    index: InMemoryInterestIndex,
) -> None:
    visitor = Person("anon-2")
    consumer = service(index, visitor, catalog_scenario("email"))
    # GIVEN an anonymous visitor who viewed p1 two days ago, p-old 40 days ago (outside `within`), carted p2 and
    # bought p3 after viewing it
    two_days = NOW - timedelta(days=2)
    records = [
        visitor.views("p-old", at=NOW - timedelta(days=40)),
        visitor.views("p1", "p3", at=two_days),
        visitor.folds(visitor.event("Product Added", two_days, properties={"product_id": "p2", "quantity": 1})),
        visitor.folds(
            visitor.event(
                "Order Completed", two_days + timedelta(minutes=5), properties={"products": [{"product_id": "p3"}]}
            )
        ),
    ]
    assert consumer.process_records(records) == []
    assert index.items == {}
    # WHEN they sign up with their email
    identify = visitor.signs_up(NOW - timedelta(hours=1), "ann@example.com")
    assert consumer.process_records([identify]) == []
    # THEN their recent view and open cart line are indexed at the time they happened; the bought and the too old
    # product are not
    stamp = "2026-03-08T12:00:00.000Z"
    assert indexed(index) == {("p1", "anon-2"): {"viewed_at": stamp}, ("p2", "anon-2"): {"carted_at": stamp}}
    assert index.writes == 2
    # WHEN the same record is delivered again, and the person's next version changes nothing about their interest
    consumer.process_records([identify])
    consumer.process_records([visitor.identifies(NOW, firstName="Ann")])
    # THEN the items are the same (a replay rewrites the same values; a reachable person's later versions bring no
    # backfill)
    assert indexed(index) == {("p1", "anon-2"): {"viewed_at": stamp}, ("p2", "anon-2"): {"carted_at": stamp}}
    assert index.writes == 4


def test_the_backfill_records_only_the_kinds_an_enabled_scenario_asks_for(index: InMemoryInterestIndex) -> None:
    visitor = Person("anon-3")
    consumer = service(index, visitor, catalog_scenario("email", interest=["carted"]))
    at = NOW - timedelta(days=1)
    consumer.process_records(
        [
            visitor.views("p1", at=at),
            visitor.folds(visitor.event("Product Added", at, properties={"product_id": "p2", "quantity": 2})),
            visitor.signs_up(NOW, "ann@example.com"),
        ]
    )
    assert list(indexed(index)) == [("p2", "anon-3")]


def test_an_in_app_catalog_scenario_still_indexes_anonymous_viewers(index: InMemoryInterestIndex) -> None:
    visitor = Person("anon-4")
    consumer = service(index, visitor, catalog_scenario("email"), catalog_scenario("in_app"))
    consumer.process_records([visitor.views("p1", at=NOW - timedelta(hours=2))])
    assert indexed(index) == {("p1", "anon-4"): {"viewed_at": "2026-03-10T10:00:00.000Z"}}


def test_a_push_or_sms_address_makes_a_person_reachable_for_a_scenario_on_that_channel(
    index: InMemoryInterestIndex,
) -> None:
    visitor = Person("anon-5")
    consumer = service(index, visitor, catalog_scenario("sms", marketing=False))
    consumer.process_records([visitor.views("p1", at=NOW - timedelta(hours=2))])
    consumer.process_records([visitor.identifies(NOW - timedelta(hours=1), email="ann@example.com")])
    assert index.items == {}  # an email is no address for a text
    consumer.process_records([visitor.identifies(NOW, phone="+447700900123")])
    assert list(indexed(index)) == [("p1", "anon-5")]


def test_an_email_without_consent_is_not_reachable_for_marketing_until_they_subscribe(
    index: InMemoryInterestIndex,
) -> None:
    # GIVEN a marketing price-drop mail, and a person who gave their email (an order, a contact form) but never
    # opted in to marketing mail: delivery would skip every mail to them (`no_consent`)
    person = Person("user-3")
    consumer = service(index, person, catalog_scenario("email"))
    consumer.process_records([person.identifies(NOW - timedelta(days=2), email="max@example.com")])
    consumer.process_records([person.views("p1", at=NOW - timedelta(days=2))])
    assert index.items == {}
    # WHEN they subscribe
    consumer.process_records([person.folds(person.event("Email Subscribed", NOW - timedelta(hours=1)))])
    # THEN what they viewed before is indexed
    assert indexed(index) == {("p1", "user-3"): {"viewed_at": "2026-03-08T12:00:00.000Z"}}
    # AND a transactional catalog scenario reaches an address without marketing consent
    other, other_index = Person("user-4"), InMemoryInterestIndex()
    transactional = service(other_index, other, catalog_scenario("email", marketing=False))
    transactional.process_records([other.identifies(NOW - timedelta(days=1), email="ida@example.com")])
    transactional.process_records([other.views("p2", at=NOW - timedelta(hours=3))])
    assert list(indexed(other_index)) == [("p2", "user-4")]


def test_a_merge_of_an_anonymous_profile_indexes_its_views_under_the_winner(index: InMemoryInterestIndex) -> None:
    # GIVEN a known customer who viewed p1, and an anonymous profile (the same person on another device) that
    # viewed p2 and p1 later
    known, anonymous = Person("user-1"), Person("anon-6")
    scenario = catalog_scenario("email")
    consumer = service(index, known, scenario)
    consumer.process_records([known.signs_up(NOW - timedelta(days=3), "kim@example.com")])
    consumer.process_records([known.views("p1", at=NOW - timedelta(days=3))])
    service(index, anonymous, scenario).process_records([anonymous.views("p2", "p1", at=NOW - timedelta(days=1))])
    assert list(indexed(index)) == [("p1", "user-1")]
    writes = index.writes
    # WHEN the anonymous profile is merged into the known one
    assert known.profile is not None and anonymous.profile is not None
    merged = fold(merge_profiles(known.profile, anonymous.profile, CONFIG, NOW), "user-1", [], CONFIG, NOW).profile
    merged.version = known.profile.version + 1
    consumer.process_records([known.version(merged, [])])
    # THEN the anonymous views are the winner's interest, the later view of p1 included; nothing under the loser
    later = "2026-03-09T12:00:00.000Z"
    assert indexed(index) == {("p1", "user-1"): {"viewed_at": later}, ("p2", "user-1"): {"viewed_at": later}}
    assert index.writes == writes + 2


def test_a_reachable_persons_events_cost_what_they_did(index: InMemoryInterestIndex) -> None:
    # One write per product their new events touched, as before reachability was checked: the body's older views are
    # not written again on every version.
    person = Person("user-2")
    consumer = service(index, person, catalog_scenario("email"))
    consumer.process_records([person.signs_up(NOW - timedelta(days=1), "lee@example.com")])
    consumer.process_records([person.views("p1", "p2", at=NOW - timedelta(hours=3))])
    assert index.writes == 2
    consumer.process_records([person.views("p3", at=NOW - timedelta(hours=2))])
    assert index.writes == 3
