"""Export jobs in StateTable: `pk=export, sk=<export id>` (kept a week through `expires_at`, as long as the files).

Every field is an attribute; `parts` (the multipart ETags) a list of strings. A commit replaces the item on the
condition that `step` still holds the value the step started from."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from chalicelib.exports.ports import ExportJob
from chalicelib.shared.aws import client

JOBS_PK = "export"
KEEP_SECONDS = 7 * 86_400


def _key(export_id: str) -> dict[str, Any]:
    return {"pk": {"S": JOBS_PK}, "sk": {"S": export_id}}


def _item(job: ExportJob) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(job.export_id),
        "segment_id": {"S": job.segment_id},
        "object_key": {"S": job.key},
        "created_at": {"S": job.created_at},
        "status": {"S": job.status},
        "step": {"N": str(job.step)},
        "parts": {"L": [{"S": etag} for etag in job.parts]},
        "carry": {"BOOL": job.carry},
        "rows_written": {"N": str(job.rows)},
        "skipped": {"N": str(job.skipped)},
        "sent": {"BOOL": job.sent},
        "expected": {"N": str(job.expected)},
        "expires_at": {"N": str(int(time.time()) + KEEP_SECONDS)},
    }
    for name, value in (
        ("cursor", job.cursor),
        ("upload_id", job.upload_id),
        ("finished_at", job.finished_at),
        ("error", job.error),
    ):
        if value is not None:
            item[name] = {"S": value}
    return item


def _job(item: dict[str, Any]) -> ExportJob:
    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    return ExportJob(
        export_id=item["sk"]["S"],
        segment_id=item["segment_id"]["S"],
        key=item["object_key"]["S"],
        created_at=item["created_at"]["S"],
        status=item["status"]["S"],
        step=int(item["step"]["N"]),
        cursor=text("cursor"),
        parts=tuple(p["S"] for p in item.get("parts", {}).get("L", [])),
        upload_id=text("upload_id"),
        carry=bool(item.get("carry", {}).get("BOOL", False)),
        rows=int(item.get("rows_written", {}).get("N", "0")),
        skipped=int(item.get("skipped", {}).get("N", "0")),
        sent=bool(item.get("sent", {}).get("BOOL", False)),
        finished_at=text("finished_at"),
        error=text("error"),
        expected=int(item.get("expected", {}).get("N", "0")),
    )


class DynamoExportJobStore:
    def __init__(self, state_table: str) -> None:
        self.table = state_table

    def create(self, job: ExportJob) -> None:
        client("dynamodb").put_item(
            TableName=self.table, Item=_item(job), ConditionExpression="attribute_not_exists(pk)"
        )

    def get(self, export_id: str) -> ExportJob | None:
        item = client("dynamodb").get_item(TableName=self.table, Key=_key(export_id), ConsistentRead=True).get("Item")
        return _job(item) if item else None

    def recent(self, limit: int) -> list[ExportJob]:
        page = client("dynamodb").query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": JOBS_PK}},
            ScanIndexForward=False,  # ids start with the UTC start time: newest first
            Limit=limit,
        )
        return [_job(item) for item in page.get("Items", [])]

    def commit(self, job: ExportJob, expected_step: int) -> bool:
        ddb = client("dynamodb")
        try:
            ddb.put_item(
                TableName=self.table,
                Item=_item(job),
                ConditionExpression="#step = :expected",
                ExpressionAttributeNames={"#step": "step"},
                ExpressionAttributeValues={":expected": {"N": str(expected_step)}},
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_sent(self, export_id: str, step: int) -> None:
        ddb = client("dynamodb")
        # A failed condition: the chain has moved on, the step we sent already ran.
        with contextlib.suppress(ddb.exceptions.ConditionalCheckFailedException):
            ddb.update_item(
                TableName=self.table,
                Key=_key(export_id),
                UpdateExpression="SET sent = :t",
                ConditionExpression="#step = :step",
                ExpressionAttributeNames={"#step": "step"},
                ExpressionAttributeValues={":t": {"BOOL": True}, ":step": {"N": str(step)}},
            )
