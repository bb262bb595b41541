"""Sending to one SQS queue: bodies ten to a request, the queue URL looked up once, a refused entry an outage."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from chalicelib.shared.aws import client
from chalicelib.shared.faults import StorageUnavailable

MAX_DELAY_SECONDS = 900  # SQS limit


class SqsSender:
    """The one SQS writer every queue adapter (delivery, audience, catalog fan-out, backfill, imports) builds on."""

    def __init__(self, queue_name: str, queue_url: str | None = None, what: str = "messages") -> None:
        self.queue_name = queue_name
        self._url = queue_url
        self.what = what  # named in the error: "delivery messages", "backfill tasks"...

    @cached_property
    def url(self) -> str:
        return self._url or client("sqs").get_queue_url(QueueName=self.queue_name)["QueueUrl"]

    def send_bodies(self, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        """Send in batches of 10; raises StorageUnavailable when SQS refuses any entry (the caller's work is then
        retried: messages already sent are idempotent for every consumer here)."""
        delay = max(0, min(int(delay_seconds), MAX_DELAY_SECONDS))
        sqs = client("sqs")
        for start in range(0, len(bodies), 10):
            entries = [
                {"Id": str(n), "MessageBody": body, **({"DelaySeconds": delay} if delay else {})}
                for n, body in enumerate(bodies[start : start + 10])
            ]
            response = sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            if response.get("Failed"):
                failed = response["Failed"]
                raise StorageUnavailable(f"SQS refused {len(failed)} {self.what}: {failed[0]}")
