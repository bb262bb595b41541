"""The InAppStateStore contract: the in-memory fake and the StateTable adapter on moto keep state alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.inapp.ports import InAppStateStore
from chalicelib.inapp.state import InAppState, Triggered
from tests.fakes.inapp import InMemoryInAppStateStore

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class InAppStateStoreContract:
    @pytest.fixture
    def store(self) -> Iterator[InAppStateStore]:
        raise NotImplementedError

    def test_nothing_stored_reads_as_none(self, store: InAppStateStore) -> None:
        assert store.get("p1") is None

    def test_an_update_is_read_back_with_a_new_version(self, store: InAppStateStore) -> None:
        def change(state: InAppState) -> bool:
            state.trigger("m", Triggered(at="2026-03-02T12:00:00.000Z", until="2026-03-03T12:00:00.000Z"))
            return state.impression("m", NOW, "e1")

        written = store.update("p1", change, NOW)
        read = store.get("p1")
        assert read is not None and read.version == written.version == 1
        assert read.to_dict() == written.to_dict()
        assert read.triggered["m"].until == "2026-03-03T12:00:00.000Z"

    def test_updates_build_on_each_other_and_a_no_change_writes_nothing(self, store: InAppStateStore) -> None:
        store.update("p1", lambda s: s.impression("m", NOW, "e1"), NOW)
        store.update("p1", lambda s: s.dismiss("m", NOW), NOW)
        same = store.update("p1", lambda s: s.impression("m", NOW, "e1"), NOW)  # a replay
        read = store.get("p1")
        assert read is not None and read.version == 2 == same.version
        assert read.impressions_since("m", datetime(2026, 1, 1, tzinfo=UTC)) == 1 and "m" in read.dismissed

    def test_people_are_kept_apart(self, store: InAppStateStore) -> None:
        store.update("p1", lambda s: s.click("m", NOW), NOW)
        assert store.get("p2") is None


class TestInMemoryInAppStateStore(InAppStateStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[InAppStateStore]:
        yield InMemoryInAppStateStore()


class TestDynamoInAppStateStore(InAppStateStoreContract):
    @pytest.fixture
    def store(self, dynamo: Any) -> Iterator[InAppStateStore]:
        from chalicelib.inapp.adapters.dynamodb_inapp import DynamoInAppStateStore

        yield DynamoInAppStateStore(dynamo.state_table)

    def test_a_lost_race_is_applied_again_on_top_of_the_winner(self, store: Any, dynamo: Any) -> None:
        # GIVEN another writer moves the state between our read and our write (once)
        raced = False

        def change(state: InAppState) -> bool:
            nonlocal raced
            if not raced:
                raced = True
                store.update("p1", lambda s: s.click("other", NOW), NOW)
            return state.dismiss("m", NOW)

        # WHEN we update THEN both changes are kept
        result = store.update("p1", change, NOW)
        read = store.get("p1")
        assert read is not None and set(read.clicks) == {"other"} and set(read.dismissed) == {"m"}
        assert result.version == read.version == 2

    def test_the_item_expires_a_while_after_its_last_change(self, store: Any, dynamo: Any) -> None:
        from chalicelib.shared.aws import client

        store.update("p1", lambda s: s.click("m", NOW), NOW)
        item = client("dynamodb").get_item(
            TableName=dynamo.state_table, Key={"pk": {"S": "inapp#p1"}, "sk": {"S": "state"}}
        )["Item"]
        assert int(item["expires_at"]["N"]) > NOW.timestamp() + 365 * 86400
