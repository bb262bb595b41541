"""The MessageStore contract: one suite, run against the in-memory fake and (subclassed) the DynamoDB adapter on moto,
so the service tests can use the fake and still trust the adapter (the Chalice todo sample's pattern)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.delivery.ports import MessageRecord, MessageStore
from tests.fakes.delivery import FakeMessageStore

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
T = "evt:web#m1"


def record(status: str, step_index: int = 0, profile_id: str = "p_1", **fields: Any) -> MessageRecord:
    base: dict[str, Any] = {
        "profile_id": profile_id,
        "trigger_id": T,
        "step_index": step_index,
        "message_id": f"m{step_index}",
        "scenario_id": "cart_abandonment",
        "step_id": "reminder_1",
        "channel": "email",
        "variant": None,
        "template": "cart_reminder",
        "marketing": True,
        "status": status,
    }
    return base | fields  # type: ignore[return-value]


class MessageStoreContract:
    """What every MessageStore does; subclasses provide `store`."""

    @pytest.fixture
    def store(self) -> Iterator[MessageStore]:
        raise NotImplementedError

    def test_a_claimed_record_reads_back_with_its_history(self, store: MessageStore) -> None:
        assert store.claim(record("sending"), NOW)
        got = store.get("p_1", T, 0)
        assert got is not None
        assert {k: got.get(k) for k in ("status", "message_id", "step_index", "marketing", "channel", "sk")} == {
            "status": "sending",
            "message_id": "m0",
            "step_index": 0,
            "marketing": True,
            "channel": "email",
            "sk": f"msg#{T}#0",
        }
        assert got["history"] == [{"at": "2026-03-02T01:00:00.000Z", "status": "sending"}]
        assert got["created_at"] == got["updated_at"] == "2026-03-02T01:00:00.000Z"
        assert "variant" not in got  # None is never stored

    def test_a_second_claim_is_refused_unless_the_record_is_reopenable(self, store: MessageStore) -> None:
        assert store.claim(record("sending"), NOW)
        assert not store.claim(record("sending"), NOW)  # the exactly-once gate
        assert store.claim(record("deferred", step_index=1, reason="quiet_hours", until="2026-03-02T23:00Z"), NOW)
        later = NOW + timedelta(hours=22)
        assert store.claim(record("sending", step_index=1), later)
        got = store.get("p_1", T, 1)
        assert got is not None and got["status"] == "sending" and got["created_at"] == "2026-03-02T01:00:00.000Z"
        assert [h["status"] for h in got["history"]] == ["deferred", "sending"]
        assert got["history"][0]["reason"] == "quiet_hours"
        assert "reason" not in got and "until" not in got  # a reopened record drops the stale reason

    def test_finish_moves_only_from_the_expected_status(self, store: MessageStore) -> None:
        store.claim(record("sending"), NOW)
        assert not store.finish("p_1", T, 0, "sent", NOW, expect="unknown")
        assert store.finish("p_1", T, 0, "sent", NOW, provider_id="ses-1", sent_at="2026-03-02T01:00:00.000Z")
        assert not store.finish("p_1", T, 0, "sent", NOW)  # no longer `sending`
        assert not store.finish("p_1", T, 9, "sent", NOW)  # no such record
        got = store.get("p_1", T, 0)
        assert got is not None and got["status"] == "sent" and got["provider_id"] == "ses-1"
        assert got["history"][-1] == {"at": "2026-03-02T01:00:00.000Z", "status": "sent", "provider_id": "ses-1"}

    def test_the_send_log_is_written_with_the_sent_record_and_read_by_time(self, store: MessageStore) -> None:
        store.claim(record("sending"), NOW)
        log = {"message_id": "m0", "channel": "email", "cost": 0.0001, "marketing": True, "scenario_id": "s"}
        assert store.finish("p_1", T, 0, "sent", NOW, log=log)
        store.claim(record("sending", step_index=1), NOW)
        assert not store.finish("p_1", T, 1, "sent", NOW, expect="unknown", log={**log, "message_id": "m1"})
        [entry] = store.sends_since("p_1", NOW - timedelta(days=1))
        assert entry["sk"] == "log#2026-03-02T01:00:00.000Z#m0" and entry["channel"] == "email"
        assert entry["cost"] == 0.0001 and entry["marketing"] is True and entry["scenario_id"] == "s"
        assert store.sends_since("p_1", NOW + timedelta(seconds=1)) == []
        assert store.sends_since("p_2", NOW - timedelta(days=1)) == []

    def test_for_profile_lists_only_that_persons_message_records(self, store: MessageStore) -> None:
        store.claim(record("sending", step_index=2), NOW)
        store.claim(record("skipped", step_index=0, reason="no_consent"), NOW)
        store.claim(record("sending", profile_id="p_2"), NOW)
        log = {"message_id": "m2", "channel": "email", "cost": 0.0, "marketing": True, "scenario_id": "s"}
        store.finish("p_1", T, 2, "sent", NOW, log=log)
        assert [(r["step_index"], r["status"]) for r in store.for_profile("p_1")] == [(0, "skipped"), (2, "sent")]

    def test_attention_lists_sending_and_unknown_records_until_they_are_resolved(self, store: MessageStore) -> None:
        store.claim(record("sending"), NOW)
        store.claim(record("sending", step_index=1), NOW + timedelta(minutes=5))
        assert store.attention("sending", NOW + timedelta(minutes=1)) == [("p_1", f"msg#{T}#0")]
        store.finish("p_1", T, 0, "unknown", NOW + timedelta(minutes=11), reason="crash_window")
        assert store.attention("sending", NOW + timedelta(hours=1)) == [("p_1", f"msg#{T}#1")]
        assert store.attention("unknown", NOW + timedelta(hours=1)) == [("p_1", f"msg#{T}#0")]
        got = store.get_by_key("p_1", f"msg#{T}#0")
        assert got is not None and got["status"] == "unknown" and got["reason"] == "crash_window"
        store.finish("p_1", T, 0, "sent", NOW + timedelta(minutes=12), expect="unknown")
        assert store.attention("unknown", NOW + timedelta(hours=1)) == []
        assert store.get_by_key("p_1", f"msg#{T}#9") is None

    def test_suppression_ignores_the_address_case(self, store: MessageStore) -> None:
        assert not store.is_suppressed("email", "a@example.com")
        store.suppress("email", "A@Example.com", "bounce", NOW)
        assert store.is_suppressed("email", "a@example.COM")
        assert not store.is_suppressed("sms", "a@example.com")


class TestFakeMessageStore(MessageStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[MessageStore]:
        yield FakeMessageStore()


class TestDynamoMessageStore(MessageStoreContract):
    @pytest.fixture
    def store(self, aws: dict[str, Any]) -> Iterator[MessageStore]:
        from chalicelib.delivery.adapters.dynamodb_messages import DynamoMessageStore
        from chalicelib.shared.settings import get_settings

        yield DynamoMessageStore(get_settings().messages_table)
