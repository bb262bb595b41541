"""Privacy's exceptions that cross into its callers (the admin API)."""

from __future__ import annotations


class NotFound(Exception):
    """No such person (never existed, or already erased)."""
