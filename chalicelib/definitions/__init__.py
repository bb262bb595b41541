"""Definitions: the versioned store of what marketers change at run time (segments, scenarios, templates, broadcasts).

- `model`: `Definition` (a head), `DefinitionVersion` (immutable), `AuditEntry`, `KINDS`, `check_key`;
- `diff`: the JSON paths two bodies differ at (`changed_paths`), for the audit trail and the backfill hook;
- `exceptions`: `DefinitionConflict` (optimistic concurrency), `DefinitionNotFound`, `DefinitionInvalid` (path);
- `ports`: `DefinitionStore`, `BackfillStarter`; `adapters/`: the StateTable adapter (bootstrap composes it).

A low wing (right above `rules`) so that `profiles`, which evaluates segments in the fold, can read it.
"""

from chalicelib.definitions.diff import changed_paths
from chalicelib.definitions.exceptions import (
    DefinitionConflict,
    DefinitionError,
    DefinitionInvalid,
    DefinitionNotFound,
)
from chalicelib.definitions.model import KINDS, AuditEntry, Definition, DefinitionVersion, check_key
from chalicelib.definitions.ports import BackfillStarter, DefinitionStore

__all__ = [
    "KINDS",
    "AuditEntry",
    "BackfillStarter",
    "Definition",
    "DefinitionConflict",
    "DefinitionError",
    "DefinitionInvalid",
    "DefinitionNotFound",
    "DefinitionStore",
    "DefinitionVersion",
    "changed_paths",
    "check_key",
]
