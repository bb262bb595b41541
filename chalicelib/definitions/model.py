"""Stored definitions as domain objects: a head (the current version of an id), an immutable version, an audit entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["segment", "scenario", "template", "broadcast", "in_app"]
KINDS: tuple[str, ...] = ("segment", "scenario", "template", "broadcast", "in_app")
Action = Literal["create", "update", "enable", "disable"]


@dataclass(frozen=True)
class Definition:
    """The head of one definition: its current version and body, and whether it is in force.

    `changes` counts every change (saves, enables, disables); the audit trail is numbered by it."""

    kind: str
    id: str
    version: int
    enabled: bool
    body: dict[str, Any]
    updated_at: str
    updated_by: str
    changes: int = 1


@dataclass(frozen=True)
class DefinitionVersion:
    """One saved body. Never changes once written, so readers may cache it for the life of a container."""

    kind: str
    id: str
    version: int
    body: dict[str, Any]
    created_at: str
    created_by: str


@dataclass(frozen=True)
class AuditEntry:
    """Who did what, when, to which version, and which JSON paths the change touched (`changed`)."""

    kind: str
    id: str
    seq: int
    action: str
    version: int
    by: str
    at: str
    changed: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "action": self.action,
            "version": self.version,
            "by": self.by,
            "at": self.at,
            "changed": list(self.changed),
        }


_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def check_key(kind: str, definition_id: str) -> None:
    """Refuse a kind outside `KINDS` or an id that is not a slug (ids become DynamoDB keys and URL segments)."""
    from chalicelib.definitions.exceptions import DefinitionInvalid

    if kind not in KINDS:
        raise DefinitionInvalid("kind", f"unknown kind {kind!r} (one of: {', '.join(KINDS)})")
    if not (0 < len(definition_id) <= 128 and definition_id[0].isalnum() and set(definition_id) <= _ID_CHARS):
        raise DefinitionInvalid("id", "id must be 1-128 letters, digits, '_', '-' or '.', starting alphanumeric")
