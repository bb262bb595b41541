"""Delivery's exceptions that cross into its callers (the queue handler, the local tools)."""

from __future__ import annotations


class RetryLater(Exception):
    """The step must be executed again later (the provider was throttled or unreachable): the queue retries it."""


class OutboxUnavailable(Exception):
    """No moto server to read the local outbox from (not the local stack), or it did not answer."""
