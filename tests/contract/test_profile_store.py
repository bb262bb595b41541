"""ProfileStore contract: versioned writes, reads that say merged or erased, bodies decoded as the fold wrote them."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.profiles import codec
from chalicelib.profiles.model import Profile
from chalicelib.profiles.ports import ProfileStore
from tests.fakes.profiles import FakeProfileStore


def person(profile_id: str = "p_1", version: int = 1, **fields: Any) -> Profile:
    return Profile(profile_id=profile_id, version=version, anonymous_ids=["a1"], email="ann@shop.example", **fields)


class ProfileStoreContract:
    @pytest.fixture
    def store(self) -> ProfileStore:
        raise NotImplementedError

    def erase(self, store: ProfileStore, profile_id: str) -> None:
        """Write an erasure tombstone the way the privacy wing does."""
        raise NotImplementedError

    def test_a_missing_profile_reads_as_none(self, store: ProfileStore) -> None:
        assert store.get("p_nobody") is None
        assert store.get_many(["p_nobody"]) == {}

    def test_a_new_profile_is_written_only_if_none_exists(self, store: ProfileStore) -> None:
        assert store.put(person(version=1), None) is True
        assert store.put(person(version=1), None) is False

    def test_a_write_wins_only_against_the_version_it_read(self, store: ProfileStore) -> None:
        store.put(person(version=1), None)
        assert store.put(person(version=2, stage="active"), 1) is True
        assert store.put(person(version=3, stage="loyal"), 1) is False  # lost race: someone wrote version 2
        stored = store.get("p_1")
        assert stored is not None and stored.version == 2 and stored.profile().stage == "active"

    def test_a_read_gives_back_the_profile_written(self, store: ProfileStore) -> None:
        written = person(version=4, traits={"plan": "pro"}, segments=["vip"])
        store.put(written, None)
        stored = store.get("p_1")
        assert stored is not None
        assert (stored.profile_id, stored.version, stored.live, stored.erased) == ("p_1", 4, True, False)
        assert codec.decoded(stored.profile()) == written

    def test_each_decoded_profile_is_the_callers_to_mutate(self, store: ProfileStore) -> None:
        store.put(person(), None)
        stored = store.get("p_1")
        assert stored is not None
        stored.profile().traits["plan"] = "changed"
        assert stored.profile().traits == {}
        assert store.get("p_1").profile().traits == {}  # type: ignore[union-attr]

    def test_the_document_is_the_body_as_plain_json_values(self, store: ProfileStore) -> None:
        store.put(person(version=2, traits={"plan": "pro"}), None)
        document = store.get("p_1").document()  # type: ignore[union-attr]
        assert document["profile_id"] == "p_1"
        assert document["email"] == "ann@shop.example"
        assert document["anonymous_ids"] == ["a1"]
        assert document["traits"] == {"plan": "pro"}
        assert document["stage"] == "prospect"

    def test_a_merged_profile_says_where_it_went(self, store: ProfileStore) -> None:
        store.put(person(version=3, merged_into="p_2"), None)
        stored = store.get("p_1")
        assert stored is not None and stored.merged_into == "p_2" and not stored.live

    def test_an_erased_profile_reads_as_a_tombstone(self, store: ProfileStore) -> None:
        store.put(person(version=3), None)
        self.erase(store, "p_1")
        stored = store.get("p_1")
        assert stored is not None and stored.erased and not stored.live
        assert stored.erased_at
        assert stored.version == 4

    def test_get_many_reads_the_existing_ones_in_one_call(self, store: ProfileStore) -> None:
        for n in range(120):  # more than one request holds
            store.put(person(f"p_{n}"), None)
        found = store.get_many([f"p_{n}" for n in range(120)] + ["p_nobody", "p_3"])
        assert len(found) == 120
        assert found["p_119"].profile().profile_id == "p_119"


class TestFakeProfileStore(ProfileStoreContract):
    @pytest.fixture
    def store(self) -> ProfileStore:
        return FakeProfileStore()

    def erase(self, store: ProfileStore, profile_id: str) -> None:
        assert isinstance(store, FakeProfileStore)
        store.erase(profile_id)


class TestDynamoProfileStore(ProfileStoreContract):
    @pytest.fixture
    def store(self, dynamo: Any) -> ProfileStore:
        from chalicelib.profiles.adapters.dynamodb_profiles import DynamoProfileStore

        return DynamoProfileStore(dynamo.profiles_table)

    def erase(self, store: ProfileStore, profile_id: str) -> None:
        import json

        from chalicelib.shared.aws import client

        stored = store.get(profile_id)
        version = stored.version + 1 if stored else 1
        client("dynamodb").put_item(  # the tombstone of privacy/rights.py
            TableName=store.table,  # type: ignore[attr-defined]
            Item={
                "profile_id": {"S": profile_id},
                "version": {"N": str(version)},
                "body": {"S": json.dumps({"profile_id": profile_id, "erased": True})},
                "stage": {"S": "erased"},
                "erased_at": {"S": "2026-01-01T00:00:00+00:00"},
            },
        )
