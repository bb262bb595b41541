"""Delivery: execute scenario run steps exactly once (guards, templating, providers, the step queue and due store).

Names resolve on first use, so importing the package (or any module in it) loads nothing else (cold start).
"""

from __future__ import annotations

from chalicelib.shared.exports import lazy_exports

_PUBLIC = {
    "DeliveryService": "steps",
    "MessageStore": "ports",
    "ProviderOutcomeUnknown": "ports",
    "ProviderRejected": "ports",
    "RetryLater": "exceptions",
    "SendLogEntry": "ports",
}
__all__ = sorted(_PUBLIC)

__getattr__ = lazy_exports(__name__, _PUBLIC)
