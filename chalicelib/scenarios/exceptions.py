"""Errors of the scenarios wing."""

from __future__ import annotations


class ScenarioConfigError(ValueError):
    """A scenario file is invalid. The message names the file and the field path, e.g.
    `cart_abandonment.json: steps[1].send.variants[0].template: unknown template 'cart_reminder_v9'`."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.detail = message
        super().__init__(f"{source}: {path}: {message}" if path else f"{source}: {message}")
