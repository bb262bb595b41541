"""follow_merges: where a profile id now lives, through the ProfileStore port."""

from __future__ import annotations

from chalicelib.profiles.model import Profile
from chalicelib.profiles.ports import StoredProfile
from chalicelib.profiles.redirects import MAX_REDIRECTS, follow_merges
from tests.fakes.profiles import FakeProfileStore


def chain(length: int) -> FakeProfileStore:
    """p_0 -> p_1 -> ... -> p_<length> (the last one live)."""
    store = FakeProfileStore()
    for n in range(length):
        store.put(Profile(profile_id=f"p_{n}", version=2, merged_into=f"p_{n + 1}"), None)
    store.put(Profile(profile_id=f"p_{length}", version=1), None)
    return store


def test_a_live_profile_is_where_it_is() -> None:
    profile_id, stored = follow_merges(chain(0), "p_0")
    assert profile_id == "p_0" and stored is not None and stored.live


def test_merges_are_followed_to_the_live_profile() -> None:
    profile_id, stored = follow_merges(chain(3), "p_0")
    assert profile_id == "p_3" and stored is not None and stored.live


def test_a_missing_profile_is_none() -> None:
    assert follow_merges(FakeProfileStore(), "p_x") == ("p_x", None)


def test_a_chain_longer_than_the_limit_stops_at_the_last_profile_reached() -> None:
    profile_id, stored = follow_merges(chain(MAX_REDIRECTS + 2), "p_0")
    assert profile_id == f"p_{MAX_REDIRECTS}"
    assert stored is not None and stored.merged_into == f"p_{MAX_REDIRECTS + 1}"


class CountingStore(FakeProfileStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def get(self, profile_id: str) -> StoredProfile | None:
        self.reads.append(profile_id)
        return super().get(profile_id)


def test_a_profile_already_read_is_not_read_again_and_stop_at_is_never_read() -> None:
    store = CountingStore()
    store.put(Profile(profile_id="p_0", version=2, merged_into="p_1"), None)
    store.put(Profile(profile_id="p_1", version=2, merged_into="p_2"), None)
    first = store.get("p_0")
    store.reads.clear()
    assert follow_merges(store, "p_0", first, stop_at="p_2") == ("p_2", None)
    assert store.reads == ["p_1"]
