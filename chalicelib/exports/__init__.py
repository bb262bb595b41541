"""Exports: a segment's members as CSV (the documented `columns.COLUMNS`), written to the export bucket by a chain of
steps on the export queue (a small segment finishes inside the request), downloaded through a presigned URL.
`ports` is the storage it needs; `adapters` its S3, DynamoDB and SQS implementations."""

from chalicelib.exports.columns import COLUMNS
from chalicelib.exports.ports import ExportJob, ExportTask
from chalicelib.exports.service import ExportNotReady, ExportService, decode_task, job_view

__all__ = ["COLUMNS", "ExportJob", "ExportNotReady", "ExportService", "ExportTask", "decode_task", "job_view"]
