"""Why a definition could not be saved or read: a lost race, an unknown id, a body that fails its model."""

from __future__ import annotations


class DefinitionError(Exception):
    """Base of the definitions wing's errors."""


class DefinitionConflict(DefinitionError):
    """Another save won: the head is not at the version the caller based its change on."""

    def __init__(self, kind: str, definition_id: str, expected: int | None, actual: int | None) -> None:
        self.kind = kind
        self.definition_id = definition_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"{kind} {definition_id!r}: expected version {expected}, head is {actual}")


class DefinitionNotFound(DefinitionError):
    """No stored definition (or no such version) with this kind and id."""

    def __init__(self, kind: str, definition_id: str, version: int | None = None) -> None:
        self.kind = kind
        self.definition_id = definition_id
        self.version = version
        what = f" version {version}" if version is not None else ""
        super().__init__(f"{kind} {definition_id!r}{what} not found")


class DefinitionInvalid(DefinitionError):
    """The body fails its model or a cross-check; `path` is the JSON path of the first problem (`steps[1].template`)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path or '(root)'}: {message}")
