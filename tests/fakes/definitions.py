"""In-memory DefinitionStore and a recording BackfillStarter (same contract as the DynamoDB adapter)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chalicelib.definitions.diff import changed_paths
from chalicelib.definitions.exceptions import DefinitionConflict, DefinitionNotFound
from chalicelib.definitions.model import AuditEntry, Definition, DefinitionVersion, check_key
from chalicelib.tracking.events import iso


class InMemoryDefinitionStore:
    """Satisfies `definitions.ports.DefinitionStore`; `tests/contract/test_definition_store.py` holds it to the
    adapter's behaviour. `reads` counts revision reads and heads reloads (what a cache costs)."""

    def __init__(self) -> None:
        self.heads_by_kind: dict[str, dict[str, Definition]] = {}
        self.saved: dict[tuple[str, str], list[DefinitionVersion]] = {}
        self.entries: dict[tuple[str, str], list[AuditEntry]] = {}
        self.revisions: dict[str, int] = {}
        self.reads = {"revision": 0, "heads": 0, "version": 0}

    def _commit(self, saved: Definition, entry: AuditEntry, version: DefinitionVersion | None) -> Definition:
        self.heads_by_kind.setdefault(saved.kind, {})[saved.id] = saved
        if version is not None:
            self.saved.setdefault((saved.kind, saved.id), []).append(version)
        self.entries.setdefault((saved.kind, saved.id), []).append(entry)
        self.revisions[saved.kind] = self.revisions.get(saved.kind, 0) + 1
        return saved

    def save(
        self,
        kind: str,
        definition_id: str,
        body: dict[str, Any],
        *,
        by: str,
        now: datetime,
        expected_version: int | None = None,
        enabled: bool | None = None,
    ) -> Definition:
        check_key(kind, definition_id)
        body = copy.deepcopy(body)
        head = self.heads_by_kind.get(kind, {}).get(definition_id)
        current = head.version if head else 0
        if expected_version is not None and expected_version != current:
            raise DefinitionConflict(kind, definition_id, expected_version, current if head else None)
        new_enabled = (head.enabled if head else True) if enabled is None else enabled
        if head is not None and head.body == body and head.enabled == new_enabled:
            return head
        changed = changed_paths(head.body, body) if head else []
        if head is not None and head.enabled != new_enabled:
            changed.append("enabled")
        changes = (head.changes if head else 0) + 1
        at = iso(now)
        saved = Definition(kind, definition_id, current + 1, new_enabled, body, at, by, changes)
        action = "create" if head is None else "update"
        entry = AuditEntry(kind, definition_id, changes, action, current + 1, by, at, tuple(changed))
        return self._commit(saved, entry, DefinitionVersion(kind, definition_id, current + 1, body, at, by))

    def set_enabled(
        self,
        kind: str,
        definition_id: str,
        enabled: bool,
        *,
        by: str,
        now: datetime,
        expected_version: int | None = None,
    ) -> Definition:
        check_key(kind, definition_id)
        head = self.heads_by_kind.get(kind, {}).get(definition_id)
        if head is None:
            raise DefinitionNotFound(kind, definition_id)
        if expected_version is not None and expected_version != head.version:
            raise DefinitionConflict(kind, definition_id, expected_version, head.version)
        if head.enabled == enabled:
            return head
        changes, at = head.changes + 1, iso(now)
        saved = Definition(kind, definition_id, head.version, enabled, head.body, at, by, changes)
        action = "enable" if enabled else "disable"
        entry = AuditEntry(kind, definition_id, changes, action, head.version, by, at, ("enabled",))
        return self._commit(saved, entry, None)

    def head(self, kind: str, definition_id: str) -> Definition | None:
        check_key(kind, definition_id)
        return self.heads_by_kind.get(kind, {}).get(definition_id)

    def heads(self, kind: str) -> list[Definition]:
        check_key(kind, "x")
        self.reads["heads"] += 1
        return [d for _, d in sorted(self.heads_by_kind.get(kind, {}).items())]

    def version(self, kind: str, definition_id: str, version: int) -> DefinitionVersion | None:
        check_key(kind, definition_id)
        self.reads["version"] += 1
        return next((v for v in self.saved.get((kind, definition_id), []) if v.version == version), None)

    def versions(self, kind: str, definition_id: str) -> list[DefinitionVersion]:
        check_key(kind, definition_id)
        return list(self.saved.get((kind, definition_id), []))

    def audit(self, kind: str, definition_id: str) -> list[AuditEntry]:
        check_key(kind, definition_id)
        return list(self.entries.get((kind, definition_id), []))

    def revision(self, kind: str) -> int:
        self.reads["revision"] += 1
        return self.revisions.get(kind, 0)


class RecordingBackfill:
    """A BackfillStarter that remembers each call: `calls == [(segment_ids, reason), ...]`."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str]] = []

    def start(self, segment_ids: Sequence[str], reason: str) -> str:
        self.calls.append((list(segment_ids), reason))
        return f"job-{len(self.calls)}"
