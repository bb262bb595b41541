"""The admin use case: validate, save, enable or disable and read definitions; start backfills when rules change.

Generic over kinds: each kind brings a `KindSpec` (its files, its validator, the field that must equal the id, and
which segments a change asks to backfill); the composition root builds them from the wings that own the models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.definitions.diff import changed_paths
from chalicelib.definitions.effective import Effective, overlay
from chalicelib.definitions.exceptions import DefinitionInvalid, DefinitionNotFound
from chalicelib.definitions.model import AuditEntry, Definition, DefinitionVersion, check_key
from chalicelib.definitions.ports import BackfillStarter, DefinitionStore
from chalicelib.shared.clock import Clock

log = logging.getLogger("one2one")

# (previous body or None when new, new body, paths changed) -> ids of segments whose members must be re-evaluated
BackfillRule = Callable[[str, dict[str, Any] | None, dict[str, Any], list[str]], list[str]]


def no_backfill(definition_id: str, old: dict[str, Any] | None, new: dict[str, Any], changed: list[str]) -> list[str]:
    return []


@dataclass
class KindSpec:
    """What the service needs to know about one kind.

    - `files`: the packaged definitions, id -> body (the seeded defaults);
    - `validate(id, body)`: raise `DefinitionInvalid(path, message)` (models, JSON Schemas and cross-checks);
    - `id_field`: the body field that names the id (`name` for segments, `id` for scenarios), filled in when absent;
    - `backfill`: which segments a change asks to re-evaluate (`BackfillRule`);
    - `changed`: called with the kind after every change (drops this container's caches).
    """

    files: Callable[[], Mapping[str, dict[str, Any]]]
    validate: Callable[[str, dict[str, Any]], None]
    id_field: str | None = None
    backfill: BackfillRule = no_backfill
    changed: list[Callable[[], None]] = field(default_factory=list)


@dataclass(frozen=True)
class Saved:
    definition: Definition
    changed: tuple[str, ...]
    backfill_job: str | None = None
    created: bool = False  # the first stored version of this id (over a packaged file or none)


class DefinitionsService:
    def __init__(
        self,
        store: DefinitionStore,
        clock: Clock,
        kinds: Mapping[str, KindSpec],
        backfill: BackfillStarter | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.kinds = kinds
        self.backfill = backfill

    def spec(self, kind: str) -> KindSpec:
        if kind not in self.kinds:
            raise DefinitionNotFound(kind, "*")
        return self.kinds[kind]

    # -- reads -----------------------------------------------------------------------------------------------------
    def effective(self, kind: str) -> list[Effective]:
        """Every effective definition of a kind (files overlaid by the stored heads), fresh from the store."""
        return overlay(self.spec(kind).files(), self.store.heads(kind))

    def get(self, kind: str, definition_id: str) -> Effective:
        spec = self.spec(kind)
        check_key(kind, definition_id)
        head = self.store.head(kind, definition_id)
        if head is not None:
            return overlay({}, [head])[0]
        files = spec.files()
        if definition_id in files:
            return overlay({definition_id: files[definition_id]}, [])[0]
        raise DefinitionNotFound(kind, definition_id)

    def versions(self, kind: str, definition_id: str) -> list[DefinitionVersion]:
        self.spec(kind)
        return self.store.versions(kind, definition_id)

    def version(self, kind: str, definition_id: str, version: int) -> DefinitionVersion:
        self.spec(kind)
        found = self.store.version(kind, definition_id, version)
        if found is None:
            raise DefinitionNotFound(kind, definition_id, version)
        return found

    def audit(self, kind: str, definition_id: str) -> list[AuditEntry]:
        self.spec(kind)
        return self.store.audit(kind, definition_id)

    # -- writes ----------------------------------------------------------------------------------------------------
    def put(self, kind: str, definition_id: str, body: Any, *, by: str, expected_version: int | None = None) -> Saved:
        """Validate and save `body` as the next version of (kind, id). Raises DefinitionInvalid (with the JSON path),
        DefinitionConflict (a stale `expected_version`). Starts a backfill when the kind's rule asks for one."""
        spec = self.spec(kind)
        check_key(kind, definition_id)
        if not isinstance(body, dict):
            raise DefinitionInvalid("", "a definition is a JSON object")
        if spec.id_field is not None:
            named = body.setdefault(spec.id_field, definition_id)
            if named != definition_id:
                raise DefinitionInvalid(spec.id_field, f"must equal the id in the URL ({definition_id!r})")
        spec.validate(definition_id, body)
        previous = self._current_body(kind, definition_id)
        saved = self.store.save(
            kind, definition_id, body, by=by, now=self.clock.now(), expected_version=expected_version
        )
        if previous is not None and previous[1] == "stored" and saved.changes == previous[2]:
            return Saved(saved, ())  # the head already had this body: nothing changed, nothing to start
        old = previous[0] if previous else None
        changed = changed_paths(old, body) if old is not None else []
        if old is not None and not changed:
            # A file definition saved unchanged: stored now (so it can be disabled or edited), same rule, no backfill.
            self._changed(spec)
            return Saved(saved, (), created=True)
        self._changed(spec)
        job = self._backfill(
            spec.backfill(definition_id, old, body, changed), f"{kind} {definition_id} v{saved.version}"
        )
        return Saved(saved, tuple(changed), job, created=previous is None or previous[1] == "file")

    def set_enabled(
        self, kind: str, definition_id: str, enabled: bool, *, by: str, expected_version: int | None = None
    ) -> Saved:
        """Enable or disable. A definition only the files have is stored first (its file body, flag set)."""
        spec = self.spec(kind)
        check_key(kind, definition_id)
        now = self.clock.now()
        head = self.store.head(kind, definition_id)
        if head is None:
            files = spec.files()
            if definition_id not in files:
                raise DefinitionNotFound(kind, definition_id)
            saved = self.store.save(
                kind,
                definition_id,
                files[definition_id],
                by=by,
                now=now,
                expected_version=expected_version or 0,
                enabled=enabled,
            )
            was_enabled = True
        else:
            was_enabled = head.enabled
            saved = self.store.set_enabled(
                kind, definition_id, enabled, by=by, now=now, expected_version=expected_version
            )
        if was_enabled == saved.enabled:
            return Saved(saved, ())
        self._changed(spec)
        job = None
        if enabled:  # a segment switched back on has members to find, like a new one
            ids = spec.backfill(definition_id, None, saved.body, [])
            job = self._backfill(ids, f"{kind} {definition_id} enabled")
        return Saved(saved, ("enabled",), job)

    def _current_body(self, kind: str, definition_id: str) -> tuple[dict[str, Any], str, int] | None:
        head = self.store.head(kind, definition_id)
        if head is not None:
            return head.body, "stored", head.changes
        body = self.spec(kind).files().get(definition_id)
        return (body, "file", 0) if body is not None else None

    @staticmethod
    def _changed(spec: KindSpec) -> None:
        for callback in spec.changed:
            callback()

    def _backfill(self, segment_ids: list[str], reason: str) -> str | None:
        if not segment_ids or self.backfill is None:
            return None
        try:
            return self.backfill.start(sorted(set(segment_ids)), reason)
        except Exception:
            # The definition is saved and in force; the backfill can be started again. Say so loudly.
            log.exception("ALERT definitions: backfill of %s not started (%s)", segment_ids, reason)
            return None


def segment_backfill(
    definition_id: str, old: dict[str, Any] | None, new: dict[str, Any], changed: list[str]
) -> list[str]:
    """A new segment, or one whose rule changed, must have its members found among existing profiles."""
    from chalicelib.definitions.diff import touches

    if old is None or touches(changed, "rule"):
        return [definition_id]
    return []


def scenario_backfill(
    definition_id: str, old: dict[str, Any] | None, new: dict[str, Any], changed: list[str]
) -> list[str]:
    """A scenario whose audience (`who`) is new or changed: its audience segment is re-evaluated."""
    from chalicelib.definitions.diff import touches

    if old is not None and not touches(changed, "who"):
        return []
    who = new.get("who")
    segment = who.get("segment") if isinstance(who, dict) else None
    return [segment] if isinstance(segment, str) else []
