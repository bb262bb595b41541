"""The import queue (SQS): chunk tasks, ten to a request."""

from __future__ import annotations

from chalicelib.imports.ports import ImportTask
from chalicelib.imports.service import encode_task
from chalicelib.shared.sqs import SqsSender


class SqsImportQueue(SqsSender):
    def __init__(self, queue_name: str, queue_url: str | None = None) -> None:
        super().__init__(queue_name, queue_url, "import tasks")

    def send(self, tasks: list[ImportTask]) -> None:
        self.send_bodies([encode_task(t) for t in tasks])
