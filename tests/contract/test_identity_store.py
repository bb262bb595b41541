"""IdentityStore contract: identity key -> profile records, claimed first-come or taken over (no index by profile:
the profile lists its keys)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.tracking.ports import IdentityStore
from tests.fakes.tracking import FakeIdentityStore


class IdentityStoreContract:
    @pytest.fixture
    def store(self) -> IdentityStore:
        raise NotImplementedError

    def test_lookup_answers_only_the_keys_that_have_a_record(self, store: IdentityStore) -> None:
        store.link("user:u1", "p_1", only_if_absent=False)
        assert store.lookup(["user:u1", "anon:nobody", "user:u1"]) == {"user:u1": "p_1"}
        assert store.lookup([]) == {}

    def test_lookup_reads_more_keys_than_one_request_holds(self, store: IdentityStore) -> None:
        keys = [f"anon:a{n}" for n in range(130)]
        for n, key in enumerate(keys):
            store.link(key, f"p_{n}", only_if_absent=False)
        found = store.lookup(keys)
        assert len(found) == 130
        assert found["anon:a129"] == "p_129"

    def test_a_claim_only_if_absent_loses_to_another_profiles_record(self, store: IdentityStore) -> None:
        assert store.link("email:a@b.example", "p_1", only_if_absent=True) is True
        assert store.link("email:a@b.example", "p_2", only_if_absent=True) is False
        assert store.link("email:a@b.example", "p_1", only_if_absent=True) is True  # its own record: fine
        assert store.lookup(["email:a@b.example"]) == {"email:a@b.example": "p_1"}

    def test_a_takeover_repoints_the_record(self, store: IdentityStore) -> None:
        store.link("anon:a1", "p_1", only_if_absent=True)
        assert store.link("anon:a1", "p_2", only_if_absent=False) is True
        assert store.lookup(["anon:a1"]) == {"anon:a1": "p_2"}

    @pytest.fixture
    def erase(self, store: IdentityStore) -> Callable[[str], None]:
        """What erasure does to one identity (privacy's adapter writes the identities table)."""
        raise NotImplementedError

    def test_an_erased_user_or_email_resolves_to_erased_without_a_raw_keyed_record(
        self, store: IdentityStore, erase: Callable[[str], None]
    ) -> None:
        for key in ("user:u1", "email:a@b.example", "anon:a1"):
            store.link(key, "p_1", only_if_absent=False)
        for key in ("user:u1", "email:a@b.example", "anon:a1"):
            erase(key)
        found = store.lookup(["user:u1", "email:a@b.example", "anon:a1", "user:u2"])
        # anonymous ids are not looked up hashed: erasure tombstones their derived profile instead
        assert found == {"user:u1": "erased", "email:a@b.example": "erased"}

    def test_a_merge_takes_over_the_losers_records_and_no_others(self, store: IdentityStore) -> None:
        store.link("email:old@b.example", "p_loser", only_if_absent=False)
        store.link("anon:shared", "p_other", only_if_absent=False)  # a device that followed another login
        for key in ("email:old@b.example", "anon:shared", "anon:never-linked"):
            store.link(key, "p_winner", only_if_absent=True, taking_from="p_loser")
        assert store.lookup(["email:old@b.example", "anon:shared", "anon:never-linked"]) == {
            "email:old@b.example": "p_winner",
            "anon:shared": "p_other",
            "anon:never-linked": "p_winner",
        }


class TestFakeIdentityStore(IdentityStoreContract):
    @pytest.fixture
    def store(self) -> IdentityStore:
        return FakeIdentityStore()

    @pytest.fixture
    def erase(self, store: FakeIdentityStore) -> Callable[[str], None]:  # type: ignore[override]
        return store.erase


class TestDynamoIdentityStore(IdentityStoreContract):
    @pytest.fixture
    def store(self, dynamo: Any) -> IdentityStore:
        from chalicelib.tracking.adapters.dynamodb_identities import DynamoIdentityStore

        return DynamoIdentityStore(dynamo.identities_table, lambda: "contract-secret")

    @pytest.fixture
    def erase(self, dynamo: Any) -> Callable[[str], None]:  # type: ignore[override]
        from chalicelib.privacy.adapters.dynamodb_personal_data import DynamoPersonalData

        data = DynamoPersonalData(
            dynamo.events_table,
            dynamo.identities_table,
            dynamo.profiles_table,
            dynamo.segment_members_table,
            lambda: [],  # no segments: only the identity tombstone is exercised here
            secret=lambda: "contract-secret",
        )
        return lambda key: data.tombstone_identity(key, "2026-01-01T00:00:00Z")
