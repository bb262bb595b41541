"""Import jobs, chunk counts, step markers and the rejected-rows report in StateTable.

Items (kept 90 days through `expires_at`; rejected rows as long as failed events):
- `pk=import, sk=<import id>`: `spec` (JSON: kind, format, key, size, hash, header, ...), status, counters
  (counted, chunks_done, rows_accepted, rows_rejected, messages), `notices` (map of counts), finished_at, flags.
- `pk=import#<id>, sk=q#<chunk>`: a chunk's newline and quote counts (the counting pass).
- `pk=import#<id>, sk=s#<chunk>#<step>`: a committed step (final, next_skip, sent).
- `pk=import#<id>, sk=r#<line>#<part>`: a rejected row: reason (JSON) and the raw row (first 1,000 characters).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from chalicelib.imports.ports import ImportJob, ImportTask, RejectedRow, StepMarker
from chalicelib.imports.ranges import RangeCounts
from chalicelib.shared.aws import client

JOBS_PK = "import"
KEEP_SECONDS = 90 * 86_400
COUNTERS = ("counted", "chunks_done", "rows_accepted", "rows_rejected", "messages")
SPEC_FIELDS = (
    "kind",
    "fmt",
    "key",
    "size",
    "content_hash",
    "created_at",
    "chunks",
    "compressed",
    "header",
    "segment_id",
)


def _job_key(import_id: str) -> dict[str, Any]:
    return {"pk": {"S": JOBS_PK}, "sk": {"S": import_id}}


def _child(import_id: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": f"{JOBS_PK}#{import_id}"}, "sk": {"S": sk}}


def _n(item: dict[str, Any], name: str) -> int:
    return int(item[name]["N"]) if name in item else 0


def _job(item: dict[str, Any]) -> ImportJob:
    spec: dict[str, Any] = json.loads(item["spec"]["S"])
    counters: dict[str, Any] = {name: _n(item, name) for name in COUNTERS}
    return ImportJob(
        import_id=item["sk"]["S"],
        **{k: spec[k] for k in SPEC_FIELDS if k in spec},
        status=item.get("status", {}).get("S", "running"),
        error=json.loads(item["error"]["S"]) if "error" in item else None,
        **counters,
        notices={k: int(v["N"]) for k, v in item.get("notices", {}).get("M", {}).items()},
        finished_at=item.get("finished_at", {}).get("S"),
    )


class DynamoImportJobStore:
    def __init__(self, state_table: str, rejected_ttl_days: int = 30) -> None:
        self.table = state_table
        self.rejected_ttl_seconds = rejected_ttl_days * 86_400

    def _expires(self, seconds: int = KEEP_SECONDS) -> dict[str, str]:
        return {"N": str(int(time.time()) + seconds)}

    def create(self, job: ImportJob) -> bool:
        ddb = client("dynamodb")
        spec = {k: v for k, v in asdict(job).items() if k in SPEC_FIELDS}
        item = {
            **_job_key(job.import_id),
            "spec": {"S": json.dumps(spec)},
            "status": {"S": job.status},
            "notices": {"M": {}},
            "expires_at": self._expires(),
            **{name: {"N": "0"} for name in COUNTERS},
        }
        try:
            ddb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, import_id: str) -> ImportJob | None:
        item = client("dynamodb").get_item(TableName=self.table, Key=_job_key(import_id), ConsistentRead=True)
        return _job(item["Item"]) if "Item" in item else None

    def recent(self, limit: int = 20) -> list[ImportJob]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": JOBS_PK}},
        }
        while len(items) < 1000:  # imports are a few a day: the newest of the last thousand is plenty
            page = client("dynamodb").query(**kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        jobs = sorted((_job(i) for i in items), key=lambda j: (j.created_at, j.import_id), reverse=True)
        return jobs[:limit]

    def save_counts(self, import_id: str, chunk: int, counts: RangeCounts) -> bool:
        ddb = client("dynamodb")
        marker = {
            **_child(import_id, f"q#{chunk:06d}"),
            "newlines": {"N": str(counts.newlines)},
            "quotes": {"N": str(counts.quotes)},
            "ends_with_newline": {"BOOL": counts.ends_with_newline},
            "expires_at": self._expires(),
        }
        try:
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": marker,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": _job_key(import_id),
                            "UpdateExpression": "ADD counted :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )
        except ddb.exceptions.TransactionCanceledException:
            return False
        return True

    def counts(self, import_id: str) -> dict[int, RangeCounts]:
        found: dict[int, RangeCounts] = {}
        for item in self._children(import_id, "q#"):
            found[int(item["sk"]["S"][2:])] = RangeCounts(
                _n(item, "newlines"), _n(item, "quotes"), item.get("ends_with_newline", {}).get("BOOL", False)
            )
        return found

    def _children(self, import_id: str, prefix: str, after: str | None = None, limit: int | None = None) -> list[Any]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": f"{JOBS_PK}#{import_id}"}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        if after is not None:
            kwargs["KeyConditionExpression"] = "pk = :pk AND sk BETWEEN :after AND :last"
            kwargs["ExpressionAttributeValues"] = {
                ":pk": {"S": f"{JOBS_PK}#{import_id}"},
                ":after": {"S": after},
                ":last": {"S": prefix + "\uffff"},
            }
        while True:
            if limit is not None:
                kwargs["Limit"] = limit - len(items)
            page = client("dynamodb").query(**kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page or (limit is not None and len(items) >= limit):
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def set_flag(self, import_id: str, name: str) -> bool:
        ddb = client("dynamodb")
        try:
            ddb.update_item(
                TableName=self.table,
                Key=_job_key(import_id),
                UpdateExpression="SET #f = :t",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#f)",
                ExpressionAttributeNames={"#f": f"flag_{name}"},
                ExpressionAttributeValues={":t": {"BOOL": True}},
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def has_flag(self, import_id: str, name: str) -> bool:
        item = client("dynamodb").get_item(
            TableName=self.table,
            Key=_job_key(import_id),
            ConsistentRead=True,
            ProjectionExpression="#f",
            ExpressionAttributeNames={"#f": f"flag_{name}"},
        )
        return bool(item.get("Item"))

    def reject(self, import_id: str, rows: Iterable[RejectedRow]) -> None:
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        **_child(import_id, f"r#{row.line:012d}#{row.part}"),
                        "reason": {"S": json.dumps(row.reason)},
                        "raw": {"S": row.raw[:1000]},
                        "expires_at": self._expires(self.rejected_ttl_seconds),
                    }
                }
            }
            for row in rows
        ]
        unique = list({r["PutRequest"]["Item"]["sk"]["S"]: r for r in requests}.values())
        ddb = client("dynamodb")
        for start in range(0, len(unique), 25):
            pending: dict[str, Any] = {self.table: unique[start : start + 25]}
            for _ in range(8):
                response = ddb.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(0.05)
            if pending:
                raise RuntimeError("DynamoDB kept rejecting the import report's writes; the step is retried")

    def rejected(self, import_id: str, limit: int = 100, after_line: int = 0) -> list[RejectedRow]:
        after = f"r#{after_line + 1:012d}" if after_line else None
        items = self._children(import_id, "r#", after, limit)
        return [
            RejectedRow(
                int(i["sk"]["S"].split("#")[1]),
                i["sk"]["S"].split("#", 2)[2],
                json.loads(i["reason"]["S"]),
                i.get("raw", {}).get("S", ""),
            )
            for i in items[:limit]
        ]

    def marker(self, import_id: str, chunk: int, step: int) -> StepMarker | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key=_child(import_id, f"s#{chunk:06d}#{step:06d}"), ConsistentRead=True)
            .get("Item")
        )
        if item is None:
            return None
        next_skip = _n(item, "next_skip") if "next_skip" in item else None
        return StepMarker(item.get("final", {}).get("BOOL", True), next_skip, item.get("sent", {}).get("BOOL", False))

    def commit(
        self,
        task: ImportTask,
        *,
        accepted: int,
        rejected: int,
        messages: int,
        notices: dict[str, int],
        final: bool,
        next_skip: int | None,
    ) -> bool:
        ddb = client("dynamodb")
        marker: dict[str, Any] = {
            **_child(task.import_id, f"s#{task.chunk:06d}#{task.step:06d}"),
            "final": {"BOOL": final},
            "expires_at": self._expires(),
        }
        if next_skip is not None:
            marker["next_skip"] = {"N": str(next_skip)}
        names: dict[str, str] = {}
        values: dict[str, Any] = {
            ":a": {"N": str(accepted)},
            ":r": {"N": str(rejected)},
            ":m": {"N": str(messages)},
            ":d": {"N": "1" if final else "0"},
        }
        adds = ["rows_accepted :a", "rows_rejected :r", "messages :m", "chunks_done :d"]
        for n, (name, count) in enumerate(sorted(notices.items())):
            names[f"#n{n}"] = name[:100]
            values[f":n{n}"] = {"N": str(count)}
            adds.append(f"notices.#n{n} :n{n}")
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": _job_key(task.import_id),
            "UpdateExpression": "ADD " + ", ".join(adds),
            "ExpressionAttributeValues": values,
        }
        if names:
            update["ExpressionAttributeNames"] = names
        try:
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": marker,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {"Update": update},
                ]
            )
        except ddb.exceptions.TransactionCanceledException:
            return False
        return True

    def mark_sent(self, import_id: str, chunk: int, step: int) -> None:
        client("dynamodb").update_item(
            TableName=self.table,
            Key=_child(import_id, f"s#{chunk:06d}#{step:06d}"),
            UpdateExpression="SET sent = :t",
            ExpressionAttributeValues={":t": {"BOOL": True}},
        )

    def finish(self, import_id: str, at: str, status: str, error: dict[str, Any] | None = None) -> bool:
        ddb = client("dynamodb")
        values: dict[str, Any] = {":at": {"S": at}, ":s": {"S": status}}
        expression = "SET finished_at = :at, #st = :s"
        if error is not None:
            values[":e"] = {"S": json.dumps(error)}
            expression += ", #er = :e"
        try:
            ddb.update_item(
                TableName=self.table,
                Key=_job_key(import_id),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(finished_at)",
                ExpressionAttributeNames={"#st": "status", **({"#er": "error"} if error is not None else {})},
                ExpressionAttributeValues=values,
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True
