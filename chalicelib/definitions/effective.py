"""Effective definitions: the packaged files overlaid by the stored ones, cached per container behind the revision.

A stored id replaces the file's (keeping the file's position: segments are evaluated in order and a rule may read an
earlier segment's membership); a stored disabled one disables it; stored-only ids follow the files, by id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from chalicelib.definitions.model import Definition
from chalicelib.definitions.ports import DefinitionStore
from chalicelib.shared.clock import Clock

log = logging.getLogger("one2one")

T = TypeVar("T")
Origin = Literal["file", "stored"]
FILE_VERSION = 0  # the packaged file is version 0 of its id: a run started on it stays on it after a stored save
DEFAULT_CHECK_SECONDS = 30.0


@dataclass(frozen=True)
class Effective:
    """One definition in force (or disabled) after the overlay, with where it comes from."""

    id: str
    body: dict[str, Any]
    enabled: bool
    origin: Origin
    version: int
    updated_at: str | None = None
    updated_by: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "enabled": self.enabled,
            "origin": self.origin,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }


def from_stored(head: Definition) -> Effective:
    return Effective(head.id, head.body, head.enabled, "stored", head.version, head.updated_at, head.updated_by)


def overlay(files: Mapping[str, dict[str, Any]], stored: Iterable[Definition]) -> list[Effective]:
    """Files (in their order) with each stored head replacing its id, then the stored-only ids by id."""
    by_id = {head.id: head for head in stored}
    out = [
        from_stored(by_id[fid]) if fid in by_id else Effective(fid, body, True, "file", FILE_VERSION)
        for fid, body in files.items()
    ]
    out += [from_stored(by_id[sid]) for sid in sorted(by_id) if sid not in files]
    return out


class EffectiveCache(Generic[T]):
    """One kind's effective definitions, built into what its readers need (`build`), per container.

    `get()` asks the store's revision counter (one GetItem) at most every `check_every`, and reloads the heads (one
    Query) only when it moved; between checks it is a clock comparison, so the fold can call it per batch. If the
    revision read fails, the last value is kept (and the read retried at the next check): a DynamoDB hiccup must not
    stop the fold on definitions it already has.
    """

    def __init__(
        self,
        kind: str,
        store: DefinitionStore | None,
        files: Callable[[], Mapping[str, dict[str, Any]]],
        build: Callable[[list[Effective]], T],
        clock: Clock,
        check_every: timedelta = timedelta(seconds=DEFAULT_CHECK_SECONDS),
    ) -> None:
        self.kind = kind
        self.store = store
        self.files = files
        self.build = build
        self.clock = clock
        self.check_every = check_every
        self._value: T | None = None
        self._effective: list[Effective] = []
        self._revision = -1
        self._next_check: datetime | None = None

    def get(self) -> T:
        now = self.clock.now()
        if self._value is not None and self._next_check is not None and now < self._next_check:
            return self._value
        try:
            revision = self.store.revision(self.kind) if self.store is not None else 0
        except Exception:
            if self._value is None:
                raise
            log.warning("definitions: %s revision not read; keeping the loaded definitions", self.kind, exc_info=True)
            self._next_check = now + self.check_every
            return self._value
        self._next_check = now + self.check_every
        if self._value is None or revision != self._revision:
            stored = self.store.heads(self.kind) if self.store is not None else []
            effective = overlay(self.files(), stored)
            self._value, self._effective, self._revision = self.build(effective), effective, revision
        return self._value

    def effective(self) -> list[Effective]:
        """The overlay behind the current value (admin listings)."""
        self.get()
        return list(self._effective)

    def invalidate(self) -> None:
        """Reload at the next `get` (the admin API calls it after a change, so its own container sees it at once)."""
        self._next_check = None
        self._revision = -1


class VersionCache(Generic[T]):
    """Parsed versions of one kind by (id, version). Versions are immutable, so entries never go stale."""

    def __init__(
        self,
        kind: str,
        store: DefinitionStore | None,
        files: Callable[[], Mapping[str, dict[str, Any]]],
        parse: Callable[[dict[str, Any]], T],
        max_entries: int = 256,
    ) -> None:
        self.kind = kind
        self.store = store
        self.files = files
        self.parse = parse
        self.max_entries = max_entries
        self._cache: dict[tuple[str, int], T | None] = {}

    def get(self, definition_id: str, version: int) -> T | None:
        key = (definition_id, version)
        if key in self._cache:
            return self._cache[key]
        body: dict[str, Any] | None
        if version == FILE_VERSION:
            body = self.files().get(definition_id)
        else:
            saved = self.store.version(self.kind, definition_id, version) if self.store is not None else None
            body = saved.body if saved is not None else None
        value = self.parse(body) if body is not None else None
        if len(self._cache) >= self.max_entries:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = value
        return value
