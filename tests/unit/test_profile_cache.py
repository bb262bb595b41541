"""The fold's warm-container profile cache: reused only for the exact body this container wrote, bounded, and never
left holding a half-folded profile."""

from __future__ import annotations

import json
from typing import Any

from bench.fakes import MemoryEventStore, MemoryFailedEventStore, MemoryIdentityStore, MemoryProfileStore, Requests
from chalicelib.profiles.codec import body_json, read_item, to_json
from chalicelib.profiles.fold_batches import FoldService
from chalicelib.profiles.model import Profile
from chalicelib.profiles.profile_cache import MEMORY_PER_STORED_BYTE, ProfileCache
from chalicelib.shared.clock import FakeClock
from tests.unit.test_profile_support import NOW, PROFILE_ID, make_event, page


def _service(cache: ProfileCache | None = None) -> tuple[FoldService, MemoryProfileStore]:
    requests = Requests()
    profiles = MemoryProfileStore(requests)
    service = FoldService(
        MemoryEventStore(requests),
        MemoryIdentityStore(requests),
        profiles,
        MemoryFailedEventStore(requests),
        FakeClock(NOW),
        profile_cache=cache,
    )
    return service, profiles


def _parsed(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(to_json(read_item(item)))


def test_a_profile_written_by_this_container_is_reused_and_folds_like_a_parsed_one():
    # GIVEN one service with the cache (admitting from the start) and one without, both folding the same two batches
    cached, cached_store = _service(ProfileCache(min_recurrence=0.0))
    plain, plain_store = _service(ProfileCache(max_entries=0))
    first = [page(message_id="a1"), make_event(properties={"product_id": "sku-1", "price": 5}, message_id="a2")]
    second = [make_event("track", "Product Added", properties={"product_id": "sku-1"}, message_id="b1")]
    for service in (cached, plain):
        service.fold_profile(PROFILE_ID, first)
    # WHEN the second batch finds the body this container wrote
    hits = cached.profile_cache.hits
    for service in (cached, plain):
        service.fold_profile(PROFILE_ID, second)
    # THEN the cached object was used, and the stored result is the same as with a fresh parse
    assert cached.profile_cache.hits == hits + 1
    assert cached_store.items[PROFILE_ID]["body"] == plain_store.items[PROFILE_ID]["body"]
    assert cached_store.items[PROFILE_ID]["version"] == {"N": "2"}


def test_a_body_written_by_someone_else_is_parsed_even_with_the_same_version():
    # GIVEN a profile this container wrote, then rewritten elsewhere keeping its version (e.g. another container)
    service, store = _service(ProfileCache(min_recurrence=0.0))
    service.fold_profile(PROFILE_ID, [page(message_id="a1")])
    item = store.items[PROFILE_ID]
    body = json.loads(body_json(item))
    body["traits"] = {"plan": "gold"}
    item["body"] = {"S": json.dumps(body)}  # another writer, and the plain-JSON form written before compression
    # WHEN the next batch is folded
    service.fold_profile(PROFILE_ID, [page(message_id="a2")])
    # THEN the other writer's change is kept: the stale cached object was not used
    assert service.profile_cache.hits == 0
    assert _parsed(store.items[PROFILE_ID])["traits"] == {"plan": "gold"}


def test_a_version_mismatch_reparses_and_takes_the_stored_version():
    # GIVEN the same body but a different top-level version (what the conditional write checks)
    service, store = _service(ProfileCache(min_recurrence=0.0))
    service.fold_profile(PROFILE_ID, [page(message_id="a1")])
    store.items[PROFILE_ID]["version"] = {"N": "7"}
    # WHEN folded again THEN the write is conditioned on the stored version and succeeds with the next one
    assert service.fold_profile(PROFILE_ID, [page(message_id="a2")])
    assert store.items[PROFILE_ID]["version"] == {"N": "8"}


def test_a_lost_write_race_leaves_nothing_half_folded_in_the_cache():
    # GIVEN a cached profile and a store that rejects the next write once (a concurrent writer)
    service, store = _service(ProfileCache(min_recurrence=0.0))
    service.fold_profile(PROFILE_ID, [page(message_id="a1")])
    original_put = store.put
    calls = {"n": 0}

    def flaky_put(item: dict[str, Any], expected_version: int | None) -> bool:
        calls["n"] += 1
        return False if calls["n"] == 1 else original_put(item, expected_version)

    store.put = flaky_put  # type: ignore[method-assign]
    # WHEN the fold retries after losing the race
    assert service.fold_profile(PROFILE_ID, [page(message_id="a2")])
    # THEN the retry started from the stored profile (the event is applied once, not twice)
    stored = _parsed(store.items[PROFILE_ID])
    assert stored["computed"]["page_views"] == 2
    assert stored["version"] == 2


def test_objects_are_kept_only_once_written_profiles_recur():
    profile = Profile(profile_id="x")
    cache = ProfileCache()
    # GIVEN a cold container: nothing has recurred yet, so nothing is kept (only a fingerprint of what was written)
    for n in range(300):
        cache.put(f"p{n}", f'{{"version":{n}}}', profile)
    assert len(cache) == 0
    # WHEN the same profiles come back unchanged (a shard's profiles recurring batch after batch)
    for n in range(300):
        assert cache.take(f"p{n}", f'{{"version":{n}}}') is None
        cache.put(f"p{n}", f'{{"version":{n}}}', profile)
    # THEN the cache starts keeping objects, and serves them
    assert cache.recurrence >= 0.5 and len(cache) > 0
    assert cache.take("p299", '{"version":299}') is profile
    # AND bodies rewritten elsewhere (not what this container wrote) drive it back to keeping nothing
    for n in range(300):
        cache.take(f"p{n}", f'{{"version":{n + 1000}}}')
        cache.put(f"q{n}", "{}", profile)
    assert cache.recurrence < 0.5


def test_the_cache_is_bounded_by_entries_and_by_estimated_memory():
    profile = Profile(profile_id="x")
    by_count = ProfileCache(max_entries=2, min_recurrence=0.0)
    for pid in ("a", "b", "c"):
        by_count.put(pid, "{}", profile)
    assert len(by_count) == 2 and by_count.take("a", "{}") is None  # least recently written goes first
    by_bytes = ProfileCache(max_entries=100, max_bytes=10 * MEMORY_PER_STORED_BYTE, min_recurrence=0.0)
    by_bytes.put("a", "12345", profile)
    by_bytes.put("b", "123456", profile)
    assert len(by_bytes) == 1 and by_bytes.estimated_bytes == 6 * MEMORY_PER_STORED_BYTE
    by_bytes.put("huge", "x" * 11, profile)  # bigger than the whole budget: not kept, nothing else evicted
    assert len(by_bytes) == 1 and by_bytes.take("b", "123456") is profile
    assert by_bytes.estimated_bytes == 0
