"""The export queue (SQS): one chain step per message."""

from __future__ import annotations

from chalicelib.exports.ports import ExportTask
from chalicelib.exports.service import encode_task
from chalicelib.shared.sqs import SqsSender


class SqsExportQueue(SqsSender):
    def __init__(self, queue_name: str, queue_url: str | None = None) -> None:
        super().__init__(queue_name, queue_url, "export tasks")

    def send(self, tasks: list[ExportTask]) -> None:
        self.send_bodies([encode_task(t) for t in tasks])
