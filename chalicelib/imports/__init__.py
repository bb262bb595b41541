"""Imports: bulk files of people, offline orders and raw events (CSV or JSON lines, gzip allowed) and Pinpoint
migrations, split into byte ranges on the import queue and stored through the ingest use case, so they fold exactly
like live events. `ports` is the storage it needs; `adapters` its S3, DynamoDB and SQS implementations."""

from chalicelib.imports.pinpoint import convert_template, convert_template_document
from chalicelib.imports.ports import ImportJob, ImportTask, RejectedRow
from chalicelib.imports.service import ImportRefused, ImportService, decode_task, job_view, rejected_view

__all__ = [
    "ImportJob",
    "ImportRefused",
    "ImportService",
    "ImportTask",
    "RejectedRow",
    "convert_template",
    "convert_template_document",
    "decode_task",
    "job_view",
    "rejected_view",
]
