"""The delivery queue (SQS): run steps to execute now or after a short delay."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.shared.sqs import MAX_DELAY_SECONDS, SqsSender

__all__ = ["MAX_DELAY_SECONDS", "SqsDeliveryQueue"]  # longer waits than MAX_DELAY_SECONDS go through the due store


class SqsDeliveryQueue(SqsSender):
    def __init__(self, queue_name: str, queue_url: str | None = None) -> None:
        super().__init__(queue_name, queue_url, "delivery messages")

    def enqueue(self, messages: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        """Send JSON messages in batches of 10; raises when SQS refuses any (the caller's batch is then retried)."""
        self.send_bodies([json.dumps(m, separators=(",", ":")) for m in messages], delay_seconds)
