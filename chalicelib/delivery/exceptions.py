"""Delivery's exceptions that cross into its callers (the queue handler)."""

from __future__ import annotations


class RetryLater(Exception):
    """The step must be executed again later (the provider was throttled or unreachable): the queue retries it."""
