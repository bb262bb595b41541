"""The delivery queue (SQS): run steps to execute now or after a short delay."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from chalicelib.shared.aws import client
from chalicelib.shared.faults import StorageUnavailable

MAX_DELAY_SECONDS = 900  # SQS limit; longer waits go through the due store


class SqsDeliveryQueue:
    def __init__(self, queue_name: str, queue_url: str | None = None) -> None:
        self.queue_name = queue_name
        self._url = queue_url

    @cached_property
    def url(self) -> str:
        return self._url or client("sqs").get_queue_url(QueueName=self.queue_name)["QueueUrl"]

    def enqueue(self, messages: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        """Send JSON messages in batches of 10; raises when SQS refuses any (the caller's batch is then retried)."""
        delay = max(0, min(int(delay_seconds), MAX_DELAY_SECONDS))
        sqs = client("sqs")
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [
                {"Id": str(n), "MessageBody": json.dumps(m, separators=(",", ":")), "DelaySeconds": delay}
                for n, m in enumerate(chunk)
            ]
            response = sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            if response.get("Failed"):
                failed = response["Failed"]
                raise StorageUnavailable(f"SQS refused {len(failed)} delivery messages: {failed[0]}")
