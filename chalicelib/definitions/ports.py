"""Definitions ports: the versioned store of marketer-editable JSON documents, and the backfill the hooks start."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from chalicelib.definitions.model import AuditEntry, Definition, DefinitionVersion


class DefinitionStore(Protocol):
    """JSON documents by (kind, id). Each save writes a new immutable version (1, 2, ...) and moves the head, with
    an audit entry and a bump of the kind's revision counter, all or nothing.

    Saving the body and enabled flag the head already has changes nothing and returns the head (an idempotent PUT
    leaves no empty version nor audit entry). `expected_version` (0 = "must not exist yet") makes a save or an
    enable/disable conditional: `DefinitionConflict` when the head is elsewhere. Without it, the save applies on top of
    whatever head it finds (still atomically: a concurrent save is never lost, it becomes the previous version).
    Raises `DefinitionInvalid` for a kind outside `KINDS` or an id that is not a slug.
    """

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
        """Store `body` as the next version and make it the head; `enabled` None keeps the head's flag (new: True)."""
        ...

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
        """Enable or disable the head (audited, no new version). Raises `DefinitionNotFound` when nothing is stored."""
        ...

    def head(self, kind: str, definition_id: str) -> Definition | None:
        """The current version of one id, or None."""
        ...

    def heads(self, kind: str) -> list[Definition]:
        """Every stored head of a kind, by id (enabled or not). One Query: the effective-definitions cache's reload."""
        ...

    def version(self, kind: str, definition_id: str, version: int) -> DefinitionVersion | None:
        """One saved version (immutable), or None."""
        ...

    def versions(self, kind: str, definition_id: str) -> list[DefinitionVersion]:
        """The history of one id, oldest first."""
        ...

    def audit(self, kind: str, definition_id: str) -> list[AuditEntry]:
        """Every change of one id (saves, enables, disables), oldest first."""
        ...

    def revision(self, kind: str) -> int:
        """A counter bumped by every change of the kind (0 before the first): one GetItem tells a cache to reload."""
        ...


class BackfillStarter(Protocol):
    """Re-evaluates existing profiles for segments whose rule is new or changed (the backfill engine plugs in here)."""

    def start(self, segment_ids: Sequence[str], reason: str) -> str:
        """Start (or queue) a backfill of `segment_ids`; returns its job id."""
        ...
