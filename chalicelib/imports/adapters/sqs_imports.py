"""The import queue (SQS): chunk tasks, ten to a request."""

from __future__ import annotations

from functools import cached_property

from chalicelib.imports.ports import ImportTask
from chalicelib.imports.service import encode_task
from chalicelib.shared.aws import client


class SqsImportQueue:
    def __init__(self, queue_name: str, queue_url: str | None = None) -> None:
        self.queue_name = queue_name
        self._url = queue_url

    @cached_property
    def url(self) -> str:
        return self._url or client("sqs").get_queue_url(QueueName=self.queue_name)["QueueUrl"]

    def send(self, tasks: list[ImportTask]) -> None:
        sqs = client("sqs")
        for start in range(0, len(tasks), 10):
            entries = [{"Id": str(n), "MessageBody": encode_task(t)} for n, t in enumerate(tasks[start : start + 10])]
            response = sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"SQS refused {len(response['Failed'])} import tasks: {response['Failed'][0]}")
