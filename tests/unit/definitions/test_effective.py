"""The overlay of packaged files by stored definitions, and the per-container cache behind the revision counter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.definitions.effective import EffectiveCache, VersionCache, overlay
from chalicelib.shared.clock import FakeClock
from tests.fakes.definitions import InMemoryDefinitionStore

NOW = datetime(2026, 3, 2, tzinfo=UTC)
FILES = {"b": {"name": "b", "v": "file"}, "a": {"name": "a", "v": "file"}}


def test_stored_ids_replace_the_files_in_place_and_new_ones_follow_by_id() -> None:
    store = InMemoryDefinitionStore()
    store.save("segment", "a", {"name": "a", "v": "stored"}, by="x", now=NOW, enabled=False)
    store.save("segment", "z", {"name": "z"}, by="x", now=NOW)
    store.save("segment", "c", {"name": "c"}, by="x", now=NOW)
    out = overlay(FILES, store.heads("segment"))
    assert [(e.id, e.origin, e.enabled, e.version) for e in out] == [
        ("b", "file", True, 0),
        ("a", "stored", False, 1),
        ("c", "stored", True, 1),
        ("z", "stored", True, 1),
    ]
    assert out[1].body["v"] == "stored"


def test_the_cache_checks_the_revision_at_most_every_interval_and_reloads_only_when_it_moved() -> None:
    store, clock = InMemoryDefinitionStore(), FakeClock(NOW)
    builds: list[list[str]] = []

    def build(effective: list[Any]) -> list[str]:
        builds.append([e.id for e in effective])
        return builds[-1]

    cache = EffectiveCache("segment", store, lambda: FILES, build, clock, timedelta(seconds=30))
    for _ in range(100):  # a hot fold: one revision read, one build
        cache.get()
    assert store.reads == {"revision": 1, "heads": 1, "version": 0} and len(builds) == 1
    store.save("segment", "c", {"name": "c"}, by="x", now=NOW)
    assert cache.get() == ["b", "a"]  # not yet: the interval has not passed
    clock.advance(timedelta(seconds=31))
    assert cache.get() == ["b", "a", "c"]
    clock.advance(timedelta(seconds=31))
    cache.get()  # revision unchanged: no reload
    assert store.reads["revision"] == 3 and store.reads["heads"] == 2


def test_the_cache_keeps_what_it_has_when_the_revision_cannot_be_read() -> None:
    store, clock = InMemoryDefinitionStore(), FakeClock(NOW)
    cache = EffectiveCache("segment", store, lambda: FILES, lambda e: [x.id for x in e], clock)
    assert cache.get() == ["b", "a"]

    def down(kind: str) -> int:
        raise ConnectionError("dynamodb unreachable")

    store.revision = down  # type: ignore[method-assign]
    clock.advance(timedelta(minutes=5))
    assert cache.get() == ["b", "a"]


def test_versions_are_read_once_and_version_zero_is_the_file() -> None:
    store = InMemoryDefinitionStore()
    store.save("scenario", "a", {"name": "a", "v": 1}, by="x", now=NOW)
    versions = VersionCache("scenario", store, lambda: FILES, lambda body: body["v"])
    assert versions.get("a", 1) == 1 and versions.get("a", 1) == 1
    assert versions.get("a", 0) == "file"
    assert versions.get("a", 7) is None
    assert store.reads["version"] == 2
