"""CutPointStore and SweepStore contracts: stored cut points come back as saved; the sweep keeps its place."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.profiles.model import Profile
from chalicelib.profiles.ports import CutPointStore, SweepState, SweepStore
from chalicelib.scoring import rfm
from tests.fakes.profiles import FakeCutPointStore, FakeSweepStore


def cut_points() -> tuple[rfm.RfmCutPoints, rfm.GroupCutPoints]:
    values = [(float(d), n, 10.0 * n) for n, d in enumerate(range(1, 30), start=1)]
    groups = [("runners", 10.0 * n) for n in range(1, 30)]
    return rfm.compute_cut_points(values, computed_at="2026-03-01T00:00:00Z"), rfm.compute_group_cut_points(
        groups, "2026-03-01T00:00:00Z"
    )


class CutPointStoreContract:
    @pytest.fixture
    def store(self) -> CutPointStore:
        raise NotImplementedError

    def test_nothing_is_stored_before_the_first_job(self, store: CutPointStore) -> None:
        assert store.current() == (None, None)

    def test_saved_cut_points_come_back_equal(self, store: CutPointStore) -> None:
        saved = cut_points()
        store.save(*saved)
        assert store.current() == saved


class TestFakeCutPointStore(CutPointStoreContract):
    @pytest.fixture
    def store(self) -> CutPointStore:
        return FakeCutPointStore()


class TestDynamoCutPointStore(CutPointStoreContract):
    @pytest.fixture
    def store(self, dynamo: Any) -> CutPointStore:
        from chalicelib.profiles.adapters.dynamodb_sweeps import DynamoCutPointStore

        return DynamoCutPointStore(dynamo.state_table, cache_seconds=0)


class SweepStoreContract:
    @pytest.fixture
    def store(self) -> SweepStore:
        raise NotImplementedError

    def due(self, store: SweepStore, day: str, profile_ids: list[str]) -> None:
        raise NotImplementedError

    def test_progress_starts_empty_and_keeps_what_was_saved(self, store: SweepStore) -> None:
        assert store.load() == SweepState()
        store.save(SweepState("2026-03-01", "2026-03-02", "p_5"))
        assert store.load() == SweepState("2026-03-01", "2026-03-02", "p_5")
        store.save(SweepState(swept_through="2026-03-02"))
        assert store.load() == SweepState(swept_through="2026-03-02")

    def test_due_profiles_page_through_one_day(self, store: SweepStore) -> None:
        self.due(store, "2026-03-02", ["p_c", "p_a", "p_b"])
        self.due(store, "2026-03-03", ["p_z"])
        ids: list[str] = []
        cursor = None
        while True:
            page, cursor = store.due_profiles("2026-03-02", 2, cursor)
            ids.extend(page)
            if cursor is None:
                break
        assert ids == ["p_a", "p_b", "p_c"]
        assert store.due_profiles("2026-03-04", 2, None) == ([], None)


class TestFakeSweepStore(SweepStoreContract):
    @pytest.fixture
    def store(self) -> SweepStore:
        return FakeSweepStore()

    def due(self, store: SweepStore, day: str, profile_ids: list[str]) -> None:
        assert isinstance(store, FakeSweepStore)
        store.due.setdefault(day, []).extend(profile_ids)


class TestDynamoSweepStore(SweepStoreContract):
    @pytest.fixture
    def store(self, dynamo: Any) -> SweepStore:
        from chalicelib.profiles.adapters.dynamodb_sweeps import DynamoSweepStore

        self.settings = dynamo
        return DynamoSweepStore(dynamo.profiles_table, dynamo.state_table)

    def due(self, store: SweepStore, day: str, profile_ids: list[str]) -> None:
        from chalicelib.profiles.adapters.dynamodb_profiles import DynamoProfileStore

        profiles = DynamoProfileStore(self.settings.profiles_table)
        for profile_id in profile_ids:
            assert profiles.put(Profile(profile_id=profile_id, version=1, due_day=day), None)
