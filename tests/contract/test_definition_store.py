"""The DefinitionStore contract: one suite on the in-memory fake and (subclassed) the StateTable adapter on moto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.definitions import DefinitionConflict, DefinitionInvalid, DefinitionNotFound
from tests.fakes.definitions import InMemoryDefinitionStore

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
VIP = {"name": "vip", "rule": {"field": "stage", "op": "eq", "value": "loyal"}}


class DefinitionStoreContract:
    @pytest.fixture
    def store(self) -> Iterator[Any]:
        raise NotImplementedError

    def test_each_save_is_a_new_version_and_moves_the_head(self, store: Any) -> None:
        first = store.save("segment", "vip", VIP, by="alice", now=NOW)
        changed = {**VIP, "rule": {"field": "stage", "op": "eq", "value": "active"}}
        second = store.save("segment", "vip", changed, by="bob", now=NOW + timedelta(minutes=1))
        assert (first.version, second.version) == (1, 2)
        head = store.head("segment", "vip")
        assert (head.version, head.enabled, head.body, head.updated_by) == (2, True, changed, "bob")
        assert head.updated_at == "2026-03-02T01:01:00.000Z"
        assert [v.body for v in store.versions("segment", "vip")] == [VIP, changed]
        old = store.version("segment", "vip", 1)
        assert (old.body, old.created_by, old.created_at) == (VIP, "alice", "2026-03-02T01:00:00.000Z")
        assert store.version("segment", "vip", 3) is None

    def test_a_stale_expected_version_is_a_conflict_and_writes_nothing(self, store: Any) -> None:
        store.save("scenario", "cart", {"id": "cart"}, by="a", now=NOW, expected_version=0)
        store.save("scenario", "cart", {"id": "cart", "x": 1}, by="b", now=NOW, expected_version=1)
        with pytest.raises(DefinitionConflict) as caught:
            store.save("scenario", "cart", {"id": "cart", "x": 2}, by="c", now=NOW, expected_version=1)
        assert (caught.value.expected, caught.value.actual) == (1, 2)
        with pytest.raises(DefinitionConflict):
            store.save("scenario", "new", {"id": "new"}, by="c", now=NOW, expected_version=3)
        with pytest.raises(DefinitionConflict):
            store.save("scenario", "cart", {"id": "cart"}, by="c", now=NOW, expected_version=0)  # exists already
        assert store.head("scenario", "cart").body == {"id": "cart", "x": 1}
        assert store.head("scenario", "new") is None
        assert len(store.versions("scenario", "cart")) == 2

    def test_saving_the_head_again_changes_nothing(self, store: Any) -> None:
        store.save("template", "t", {"subject": "Hi"}, by="a", now=NOW)
        revision = store.revision("template")
        again = store.save("template", "t", {"subject": "Hi"}, by="b", now=NOW + timedelta(hours=1))
        assert (again.version, again.updated_by) == (1, "a")
        assert store.revision("template") == revision
        assert len(store.audit("template", "t")) == 1

    def test_enable_and_disable_are_audited_without_a_new_version(self, store: Any) -> None:
        store.save("segment", "vip", VIP, by="alice", now=NOW)
        off = store.set_enabled("segment", "vip", False, by="bob", now=NOW + timedelta(minutes=1))
        assert (off.enabled, off.version) == (False, 1)
        assert store.set_enabled("segment", "vip", False, by="bob", now=NOW).changes == off.changes  # no-op
        with pytest.raises(DefinitionConflict):
            store.set_enabled("segment", "vip", True, by="c", now=NOW, expected_version=2)
        store.set_enabled("segment", "vip", True, by="carol", now=NOW + timedelta(minutes=2), expected_version=1)
        assert store.head("segment", "vip").enabled
        assert len(store.versions("segment", "vip")) == 1
        with pytest.raises(DefinitionNotFound):
            store.set_enabled("segment", "nope", False, by="bob", now=NOW)

    def test_a_save_can_keep_or_set_the_enabled_flag(self, store: Any) -> None:
        store.save("segment", "vip", VIP, by="a", now=NOW, enabled=False)
        assert not store.head("segment", "vip").enabled
        store.save("segment", "vip", {**VIP, "description": "x"}, by="a", now=NOW)
        assert not store.head("segment", "vip").enabled  # None keeps the flag

    def test_the_audit_trail_says_who_when_what_and_which_paths(self, store: Any) -> None:
        store.save("scenario", "cart", {"id": "cart", "steps": [{"a": 1}, {"b": 2}]}, by="alice", now=NOW)
        later = NOW + timedelta(minutes=5)
        store.save("scenario", "cart", {"id": "cart", "steps": [{"a": 9}]}, by="bob", now=later)
        store.set_enabled("scenario", "cart", False, by="carol", now=later)
        trail = [e.to_dict() for e in store.audit("scenario", "cart")]
        assert trail == [
            {
                "seq": 1,
                "action": "create",
                "version": 1,
                "by": "alice",
                "at": "2026-03-02T01:00:00.000Z",
                "changed": [],
            },
            {
                "seq": 2,
                "action": "update",
                "version": 2,
                "by": "bob",
                "at": "2026-03-02T01:05:00.000Z",
                "changed": ["steps[0].a", "steps[1]"],
            },
            {
                "seq": 3,
                "action": "disable",
                "version": 2,
                "by": "carol",
                "at": "2026-03-02T01:05:00.000Z",
                "changed": ["enabled"],
            },
        ]

    def test_heads_list_one_kind_by_id_and_the_revision_counts_its_changes(self, store: Any) -> None:
        assert store.revision("segment") == 0 and store.heads("segment") == []
        store.save("segment", "b", {"name": "b"}, by="a", now=NOW)
        store.save("segment", "a", {"name": "a"}, by="a", now=NOW)
        store.save("scenario", "a", {"id": "a"}, by="a", now=NOW)
        store.set_enabled("segment", "b", False, by="a", now=NOW)
        assert [(d.id, d.enabled) for d in store.heads("segment")] == [("a", True), ("b", False)]
        assert store.revision("segment") == 3 and store.revision("scenario") == 1

    def test_bad_kinds_and_ids_are_refused(self, store: Any) -> None:
        with pytest.raises(DefinitionInvalid) as caught:
            store.save("widget", "a", {}, by="a", now=NOW)
        assert caught.value.path == "kind"
        with pytest.raises(DefinitionInvalid) as caught:
            store.save("segment", "a#b", {}, by="a", now=NOW)
        assert caught.value.path == "id"

    def test_bodies_keep_unicode_and_nesting(self, store: Any) -> None:
        body = {"subject": "Grüße, {{ first_name }} ✓", "nested": {"list": [1, 2.5, None, True, "x"]}}
        store.save("template", "de", body, by="a", now=NOW)
        assert store.head("template", "de").body == body
        assert store.version("template", "de", 1).body == body


class TestInMemoryDefinitionStore(DefinitionStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[Any]:
        yield InMemoryDefinitionStore()


class TestDynamoDefinitionStore(DefinitionStoreContract):
    @pytest.fixture
    def store(self, dynamo: Any) -> Iterator[Any]:
        from chalicelib.definitions.adapters.dynamodb_definitions import DynamoDefinitionStore

        yield DynamoDefinitionStore(dynamo.state_table)

    def test_a_lost_race_without_expected_version_becomes_the_next_version(self, store: Any, monkeypatch: Any) -> None:
        store.save("segment", "vip", VIP, by="a", now=NOW)
        real_head = store.head
        raced = {"done": False}

        def head_then_race(kind: str, definition_id: str) -> Any:
            seen = real_head(kind, definition_id)
            if not raced["done"]:  # another writer saves between our read and our transaction
                raced["done"] = True
                store.save("segment", "vip", {**VIP, "description": "other"}, by="other", now=NOW)
            return seen

        monkeypatch.setattr(store, "head", head_then_race)
        saved = store.save("segment", "vip", {**VIP, "description": "mine"}, by="me", now=NOW)
        assert saved.version == 3
        monkeypatch.undo()
        assert [v.created_by for v in store.versions("segment", "vip")] == ["a", "other", "me"]
