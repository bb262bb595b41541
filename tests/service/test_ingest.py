"""Ingest use case against in-memory ports: what is stored, refused and why, with no HTTP and no AWS."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.shared.clock import FakeClock
from chalicelib.tracking.identity import profile_id_for
from chalicelib.tracking.ingest import IngestService, RequestMeta
from tests.factories import T0
from tests.fakes.tracking import FakeEventStore, FakeFailedEventStore, FakeIdentityStore, FakeSourceRegistry

WRITE_KEY = "wk-test"
ORIGIN = "https://shop.example"


@dataclass
class Ingest:
    service: IngestService
    events: FakeEventStore
    identities: FakeIdentityStore
    failed: FakeFailedEventStore

    def post(self, kind: str, body: Any, *, headers: dict[str, str] | None = None, auth: bool = True) -> Any:
        all_headers = {"authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()} if auth else {}
        all_headers.update(headers or {})
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.service.receive(kind, raw, RequestMeta(headers=all_headers, source_ip="198.51.100.7"))


@pytest.fixture
def ingest() -> Ingest:
    sources = FakeSourceRegistry()
    sources.upsert_source("web", WRITE_KEY, [ORIGIN], kind="server")
    events, identities, failed = FakeEventStore(), FakeIdentityStore(), FakeFailedEventStore()
    return Ingest(IngestService(sources, events, identities, failed, FakeClock(T0)), events, identities, failed)


def test_a_track_message_is_accepted_and_stored_on_the_visitors_profile(ingest: Ingest) -> None:
    result = ingest.post("track", {"anonymousId": "a1", "event": "Signed Up", "messageId": "m1"})
    assert result.outcome == "accepted"
    assert result.reply == {"success": True}
    [event] = result.accepted
    assert event.profile_id == profile_id_for("anon", "a1")
    assert [e.message_id for e in ingest.events.items.values()] == ["m1"]


def test_a_resent_message_is_stored_once(ingest: Ingest) -> None:
    ingest.post("track", {"anonymousId": "a1", "event": "Signed Up", "messageId": "m1"})
    again = ingest.post("track", {"anonymousId": "a1", "event": "Signed Up", "messageId": "m1"})
    assert again.outcome == "accepted"
    assert again.accepted == []
    assert len(ingest.events.items) == 1


def test_a_known_user_is_resolved_through_their_identity_record(ingest: Ingest) -> None:
    ingest.identities.link("user:u1", "p_known", only_if_absent=False)
    result = ingest.post("identify", {"userId": "u1", "traits": {"email": "Ann@Shop.example "}})
    [event] = result.accepted
    assert event.profile_id == "p_known"
    assert event.email == "ann@shop.example"


def test_an_erased_persons_events_are_dropped(ingest: Ingest) -> None:
    ingest.identities.link("user:gone", "erased", only_if_absent=False)
    result = ingest.post("track", {"userId": "gone", "event": "Came Back"})
    assert result.outcome == "accepted"
    assert result.accepted == [] and ingest.events.items == {}


def test_a_request_without_a_write_key_is_unauthorized(ingest: Ingest) -> None:
    result = ingest.post("track", {"anonymousId": "a1", "event": "x"}, auth=False)
    assert result.outcome == "unauthorized"
    assert result.reply["error"] == "unauthorized"
    assert result.cors_origin is None
    assert ingest.events.items == {}


def test_an_origin_the_source_does_not_allow_is_refused(ingest: Ingest) -> None:
    result = ingest.post("track", {"anonymousId": "a1", "event": "x"}, headers={"origin": "https://evil.example"})
    assert result.outcome == "origin_not_allowed"
    assert result.cors_origin is None


def test_an_allowed_origin_may_read_the_reply(ingest: Ingest) -> None:
    result = ingest.post("track", {"anonymousId": "a1", "event": "x"}, headers={"origin": ORIGIN})
    assert result.outcome == "accepted"
    assert result.cors_origin == ORIGIN


def test_an_unknown_endpoint_is_named_as_such(ingest: Ingest) -> None:
    result = ingest.post("purchase", {"anonymousId": "a1"})
    assert result.outcome == "unknown_endpoint"


def test_an_invalid_message_is_refused_and_kept_as_a_bad_row(ingest: Ingest) -> None:
    result = ingest.post("track", {"anonymousId": "a1"})
    assert result.outcome == "invalid"
    assert result.reply["success"] is False and result.reply["field"] == "event"
    assert ingest.failed.errors() == [result.reply["error"]]


def test_unreadable_json_from_an_authenticated_source_is_kept_as_a_bad_row(ingest: Ingest) -> None:
    result = ingest.post("track", b"{not json")
    assert result.outcome == "invalid"
    assert result.reply["error"] == "invalid_json"
    assert ingest.failed.rows[0]["raw"] == "{not json"


def test_a_batch_stores_its_valid_messages_and_lists_the_rejected_ones(ingest: Ingest) -> None:
    batch = {"batch": [{"type": "track", "anonymousId": "a1", "event": "ok"}, {"type": "track", "anonymousId": "a1"}]}
    result = ingest.post("batch", batch)
    assert result.outcome == "accepted"  # SDKs retry only on 5xx/429: the stored ones must not be hidden
    assert [e.event for e in result.accepted] == ["ok"]
    assert [r["index"] for r in result.reply["rejected"]] == [1]


def test_a_batch_with_nothing_valid_is_invalid(ingest: Ingest) -> None:
    result = ingest.post("batch", {"batch": [{"type": "track", "anonymousId": "a1"}]})
    assert result.outcome == "invalid"
    assert result.reply["error"] == "invalid_batch"


def test_consent_choices_become_events(ingest: Ingest) -> None:
    result = ingest.post("consent", {"userId": "u1", "consent": {"email": True, "sms": False}})
    assert result.outcome == "accepted"
    assert result.reply == {"success": True, "recorded": ["Email Subscribed", "SMS Unsubscribed"]}


def test_global_privacy_control_without_consent_stores_the_event_tied_to_no_one(ingest: Ingest) -> None:
    result = ingest.post("track", {"userId": "u1", "event": "Viewed"}, headers={"sec-gpc": "1"})
    [event] = result.accepted
    assert event.profile_id.startswith("unlinked#")
    assert event.user_id is None and "unlinked" in event.flags


def test_a_preflight_is_allowed_for_an_origin_some_source_allows(ingest: Ingest) -> None:
    assert ingest.service.origin_may_send(ORIGIN)
    assert not ingest.service.origin_may_send("https://evil.example")
    assert not ingest.service.origin_may_send(None)


class CountingIdentityStore(FakeIdentityStore):
    """Records the keys each lookup asks for (what a BatchGetItem would read)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[list[str]] = []

    def lookup(self, keys: list[str]) -> dict[str, str]:
        self.asked.append(list(keys))
        return super().lookup(keys)


@pytest.fixture
def counting() -> Ingest:
    sources = FakeSourceRegistry()
    sources.upsert_source("web", WRITE_KEY, [ORIGIN], kind="server")
    events, identities, failed = FakeEventStore(), CountingIdentityStore(), FakeFailedEventStore()
    return Ingest(IngestService(sources, events, identities, failed, FakeClock(T0)), events, identities, failed)


def test_a_message_with_a_user_id_reads_only_the_user_key_and_resolves_as_before(counting: Ingest) -> None:
    # GIVEN a device already linked to one profile, and a user already linked to another
    counting.identities.records["anon:a1"] = "p_device"
    counting.identities.records["email:ann@example.com"] = "p_email"
    counting.identities.records["user:u1"] = "p_user"
    counting.identities.records["anon:a2"] = "p_other_device"
    counting.identities.records["email:bob@example.com"] = "p_bob"
    # WHEN a batch carries the user on another known device with another known email, a new user on the first
    # device, that device alone, and a new device with the known email
    result = counting.post(
        "batch",
        {
            "batch": [
                {"type": "track", "event": "A", "userId": "u1", "anonymousId": "a2", "messageId": "m1"},
                {"type": "identify", "userId": "u1", "anonymousId": "a2", "messageId": "m2",
                 "traits": {"email": "bob@example.com"}},
                {"type": "track", "event": "B", "userId": "u2", "anonymousId": "a1", "messageId": "m3"},
                {"type": "track", "event": "C", "anonymousId": "a1", "messageId": "m4"},
                {"type": "identify", "anonymousId": "a9", "messageId": "m5", "traits": {"email": "ann@example.com"}},
            ]
        },
    )  # fmt: skip
    # THEN one read of the keys resolution can use: the userIds alone (not a2 nor bob), every key of the others
    assert [sorted(set(keys)) for keys in counting.identities.asked] == [
        sorted(["user:u1", "user:u2", "anon:a1", "email:ann@example.com", "anon:a9"])
    ]
    # AND each message lands where resolution always put it: a userId decides alone (a known user keeps their
    # profile, a new one gets their own even on a known device), without one a known email wins, then the device
    profiles = {e.message_id: e.profile_id for e in result.accepted}
    assert profiles == {
        "m1": "p_user",
        "m2": "p_user",
        "m3": profile_id_for("user", "u2"),
        "m4": "p_device",
        "m5": "p_email",
    }
