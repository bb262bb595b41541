"""SMS consent by code against in-memory fakes: one transactional text per request, 5 tries, expiry, no clear code."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.engagement import tokens as lt
from chalicelib.engagement.sms_consent import SmsConsentService
from chalicelib.shared.clock import FakeClock
from tests.fakes.delivery import FakeEvents, FakeNotifier
from tests.fakes.engagement import FakeEngagementStore

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
RING = lt.keyring_from_signing_key("test-signing-key", "k1")
PHONE = "+14155550123"


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(NOW)
        self.store = FakeEngagementStore()
        self.events = FakeEvents()
        self.sms = FakeNotifier()
        self.service = SmsConsentService(
            store=self.store,
            sender=self.sms,
            events=self.events,
            clock=self.clock,
            keyring=lambda: RING,
            allowed_countries=lambda: frozenset({"US"}),
        )

    def last_code(self) -> str:
        return re.search(r"\b(\d{6})\b", self.sms.texts[-1][1]).group(1)

    def wrong(self, code: str) -> str:
        return f"{(int(code) + 1) % 10**6:06d}"


@pytest.fixture
def world() -> World:
    return World()


def test_the_right_code_records_sms_subscribed_with_provenance_and_opts_in_now(world: World) -> None:
    # GIVEN a code texted for a visitor's request
    request_id = world.service.request("p_anon", PHONE, "checkout", "web")
    assert request_id is not None
    [(to, text, message_id)] = world.sms.texts
    assert to == PHONE and message_id == request_id and world.sms.transactional == [True]
    # WHEN the code comes back ten seconds later
    world.clock.advance(timedelta(seconds=10))
    result = world.service.confirm(PHONE, world.last_code(), "web")
    # THEN the person is subscribed: a server fact (not a tracked, unverified event) with its provenance
    assert result.outcome == "subscribed" and result.profile_id == "p_anon"
    [event] = world.events.named("SMS Subscribed")
    assert event.profile_id == "p_anon" and event.source_id == "sms" and not event.flags
    [phone] = [e for e in world.events.events.values() if e.type == "identify"]
    assert phone.profile_id == "p_anon" and phone.traits == {"phone": PHONE}  # the number is proven: it is theirs
    assert event.properties == {
        "channel": "sms",
        "source": "checkout",
        "method": "sms_code",
        "requested_at": "2026-05-01T09:00:00.000Z",
        "confirmed_at": "2026-05-01T09:00:10.000Z",
        "request_id": request_id,
    }
    assert world.store.preferences("p_anon")["sms"]["status"] == "opted_in"
    # AND the code is single use
    assert world.service.confirm(PHONE, world.last_code(), "web").outcome == "no_code"


def test_the_code_is_never_stored_in_clear(world: World) -> None:
    world.service.request("p_anon", PHONE, "checkout", "web")
    stored = json.dumps(world.store.sms_codes, default=str)
    assert world.last_code() not in stored
    assert PHONE not in stored and PHONE[1:] not in stored


def test_five_wrong_codes_void_the_request_even_for_the_right_code_after(world: World) -> None:
    world.service.request("p_anon", PHONE, "checkout", "web")
    code = world.last_code()
    left = [world.service.confirm(PHONE, world.wrong(code), "web").attempts_left for _ in range(5)]
    assert left == [4, 3, 2, 1, 0]
    assert world.service.confirm(PHONE, code, "web").outcome == "no_code"
    assert world.events.named("SMS Subscribed") == [] and world.store.preferences("p_anon") == {}


def test_four_wrong_codes_then_the_right_one_still_subscribes(world: World) -> None:
    world.service.request("p_anon", PHONE, "checkout", "web")
    code = world.last_code()
    for _ in range(4):
        assert world.service.confirm(PHONE, world.wrong(code), "web").outcome == "wrong_code"
    assert world.service.confirm(PHONE, code, "web").outcome == "subscribed"


def test_an_expired_code_is_refused(world: World) -> None:
    world.service.request("p_anon", PHONE, "checkout", "web")
    world.clock.advance(timedelta(minutes=10))
    assert world.service.confirm(PHONE, world.last_code(), "web").outcome == "no_code"
    assert world.events.named("SMS Subscribed") == []


def test_a_code_confirms_only_for_the_source_that_asked_for_it(world: World) -> None:
    world.service.request("p_anon", PHONE, "checkout", "web")
    assert world.service.confirm(PHONE, world.last_code(), "other-site").outcome == "no_code"


def test_a_newer_request_replaces_the_code(world: World) -> None:
    world.service.request("p_anon", PHONE, "checkout", "web")
    first = world.last_code()
    world.clock.advance(timedelta(minutes=1))
    world.service.request("p_anon", PHONE, "checkout", "web")
    second = world.last_code()
    if first != second:
        assert world.service.confirm(PHONE, first, "web").outcome == "wrong_code"
    assert world.service.confirm(PHONE, second, "web").outcome == "subscribed"


def test_texts_to_one_number_are_limited_to_three_a_day_with_the_mails_limiter(world: World) -> None:
    sent = [world.service.request(f"p_{n}", PHONE, "checkout", "web") for n in range(10)]
    assert sum(r is not None for r in sent) == 3 and len(world.sms.texts) == 3
    world.clock.advance(timedelta(days=1))
    assert world.service.request("p_x", PHONE, "checkout", "web") is not None


def test_no_keys_is_a_deployment_fault_not_a_silent_skip(world: World) -> None:
    world.service._keyring = lambda: None
    with pytest.raises(RuntimeError):
        world.service.request("p_anon", PHONE, "checkout", "web")
    assert world.sms.texts == []
