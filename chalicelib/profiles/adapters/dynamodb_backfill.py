"""Segment backfill in AWS: the profiles table's parallel Scan, the jobs and cursors in StateTable, the SQS queue.

Items (StateTable, kept 90 days through `expires_at`):
- `pk=backfill, sk=<job id>`: segment_ids (JSON), reason, total_segments, started_at, segments_done,
  profiles_evaluated, profiles_written, profiles_skipped, finished_at. Job ids sort by start time: the recent jobs
  are one Query.
- `pk=backfill#<job id>, sk=seg#<n>`: one cursor per scan segment: next_step, start_after (profile id),
  sent_step, is_done.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.profiles.adapters.dynamodb_profiles import stored_profile
from chalicelib.profiles.backfill import encode_task
from chalicelib.profiles.ports import BackfillCursor, BackfillJob, BackfillTask, StoredProfile
from chalicelib.shared.aws import client
from chalicelib.shared.sqs import SqsSender

JOBS_PK = "backfill"
KEEP_SECONDS = 90 * 86_400
COUNTERS = ("segments_done", "profiles_evaluated", "profiles_written", "profiles_skipped")


def _now() -> datetime:
    return datetime.now(UTC)


class DynamoProfileScan:
    def __init__(self, profiles_table: str) -> None:
        self.profiles_table = profiles_table

    def scan_page(
        self, segment: int, total_segments: int, start_after: str | None, limit: int
    ) -> tuple[list[StoredProfile], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.profiles_table,
            "Segment": segment,
            "TotalSegments": total_segments,
            "Limit": limit,
        }
        if start_after is not None:
            kwargs["ExclusiveStartKey"] = {"profile_id": {"S": start_after}}
        page = client("dynamodb").scan(**kwargs)
        last = page.get("LastEvaluatedKey")
        return [stored_profile(item) for item in page.get("Items", [])], last["profile_id"]["S"] if last else None


def _cursor_key(job_id: str, segment: int) -> dict[str, Any]:
    return {"pk": {"S": f"{JOBS_PK}#{job_id}"}, "sk": {"S": f"seg#{segment:06d}"}}


def _job_key(job_id: str) -> dict[str, Any]:
    return {"pk": {"S": JOBS_PK}, "sk": {"S": job_id}}


def _n(item: dict[str, Any], name: str) -> int:
    return int(item[name]["N"]) if name in item else 0


def _job(item: dict[str, Any]) -> BackfillJob:
    return BackfillJob(
        job_id=item["sk"]["S"],
        segment_ids=tuple(json.loads(item["segment_ids"]["S"])),
        reason=item.get("reason", {}).get("S", ""),
        total_segments=_n(item, "total_segments"),
        started_at=item["started_at"]["S"],
        segments_done=_n(item, "segments_done"),
        profiles_evaluated=_n(item, "profiles_evaluated"),
        profiles_written=_n(item, "profiles_written"),
        profiles_skipped=_n(item, "profiles_skipped"),
        finished_at=item.get("finished_at", {}).get("S"),
    )


class DynamoBackfillJobStore:
    def __init__(self, state_table: str) -> None:
        self.state_table = state_table

    def create(self, job: BackfillJob) -> None:
        expires = {"N": str(int(_now().timestamp()) + KEEP_SECONDS)}
        cursors = [
            {
                **_cursor_key(job.job_id, segment),
                "next_step": {"N": "0"},
                "sent_step": {"N": "0"},
                "is_done": {"BOOL": False},
                "expires_at": expires,
            }
            for segment in range(job.total_segments)
        ]
        job_item: dict[str, Any] = {
            **_job_key(job.job_id),
            "segment_ids": {"S": json.dumps(list(job.segment_ids))},
            "reason": {"S": job.reason},
            "total_segments": {"N": str(job.total_segments)},
            "started_at": {"S": job.started_at},
            **{name: {"N": "0"} for name in COUNTERS},
            "expires_at": expires,
        }
        # The cursors first: a job item that exists always has its cursors.
        ddb = client("dynamodb")
        for start in range(0, len(cursors), 25):
            request = {self.state_table: [{"PutRequest": {"Item": c}} for c in cursors[start : start + 25]]}
            while request:
                request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        ddb.put_item(TableName=self.state_table, Item=job_item)

    def get(self, job_id: str) -> BackfillJob | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.state_table, Key=_job_key(job_id), ConsistentRead=True)
            .get("Item")
        )
        return _job(item) if item else None

    def recent(self, limit: int) -> list[BackfillJob]:
        page = client("dynamodb").query(
            TableName=self.state_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": JOBS_PK}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_job(item) for item in page.get("Items", [])]

    def cursor(self, job_id: str, segment: int) -> BackfillCursor | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.state_table, Key=_cursor_key(job_id, segment), ConsistentRead=True)
            .get("Item")
        )
        if not item:
            return None
        return BackfillCursor(
            step=_n(item, "next_step"),
            start_after=item.get("start_after", {}).get("S"),
            sent=_n(item, "sent_step"),
            done=bool(item.get("is_done", {}).get("BOOL")),
        )

    def commit(self, task: BackfillTask, next_start: str | None, evaluated: int, written: int, skipped: int) -> bool:
        done = next_start is None
        values: dict[str, Any] = {
            ":step": {"N": str(task.step)},
            ":next": {"N": str(task.step + 1)},
            ":done": {"BOOL": done},
        }
        if done:
            cursor_update = "SET next_step = :next, is_done = :done REMOVE start_after"
        else:
            cursor_update = "SET next_step = :next, is_done = :done, start_after = :after"
            values[":after"] = {"S": next_start}
        counts = {
            ":e": {"N": str(evaluated)},
            ":w": {"N": str(written)},
            ":s": {"N": str(skipped)},
            ":d": {"N": "1" if done else "0"},
        }
        ddb = client("dynamodb")
        try:
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.state_table,
                            "Key": _cursor_key(task.job_id, task.segment),
                            "UpdateExpression": cursor_update,
                            "ConditionExpression": "next_step = :step",
                            "ExpressionAttributeValues": values,
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.state_table,
                            "Key": _job_key(task.job_id),
                            "UpdateExpression": "ADD profiles_evaluated :e, profiles_written :w,"
                            " profiles_skipped :s, segments_done :d",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": counts,
                        }
                    },
                ]
            )
        except ddb.exceptions.TransactionCanceledException as exc:
            codes = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if codes and codes[0] == "ConditionalCheckFailed":
                return False  # the step was committed already
            raise  # a conflict or throttling: the message is delivered again
        return True

    def mark_sent(self, job_id: str, segment: int, step: int) -> None:
        ddb = client("dynamodb")
        with contextlib.suppress(ddb.exceptions.ConditionalCheckFailedException):  # recorded already (or higher)
            ddb.update_item(
                TableName=self.state_table,
                Key=_cursor_key(job_id, segment),
                UpdateExpression="SET sent_step = :n",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(sent_step) OR sent_step < :n)",
                ExpressionAttributeValues={":n": {"N": str(step)}},
            )

    def finish(self, job_id: str, at: str) -> bool:
        ddb = client("dynamodb")
        try:
            ddb.update_item(
                TableName=self.state_table,
                Key=_job_key(job_id),
                UpdateExpression="SET finished_at = :at",
                ConditionExpression="segments_done >= total_segments AND attribute_not_exists(finished_at)",
                ExpressionAttributeValues={":at": {"S": at}},
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True


class SqsBackfillQueue(SqsSender):
    def __init__(self, queue_name: str, queue_url: str | None = None) -> None:
        super().__init__(queue_name, queue_url, "backfill tasks")

    def send(self, tasks: list[BackfillTask]) -> None:
        self.send_bodies([encode_task(t) for t in tasks])
