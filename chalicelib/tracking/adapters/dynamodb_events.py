"""Events and failed events in DynamoDB."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from chalicelib.shared.aws import client
from chalicelib.shared.dynamodb import batch_write
from chalicelib.tracking.events import TrackedEvent
from chalicelib.tracking.ports import FailedEvent


class DynamoEventStore:
    def __init__(self, table: str, ttl_days: int) -> None:
        self.table = table
        self.ttl_seconds = ttl_days * 86400

    def _expires(self, event: TrackedEvent) -> int:
        return int(event.received_at.timestamp()) + self.ttl_seconds

    def put_new(self, event: TrackedEvent) -> bool:
        ddb = client("dynamodb")
        try:
            ddb.put_item(
                TableName=self.table,
                Item=event.to_item(self._expires(event)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def put_many(self, events: list[TrackedEvent]) -> None:
        batch_write(self.table, [{"PutRequest": {"Item": e.to_item(self._expires(e))}} for e in events])

    def put_new_many(self, events: list[TrackedEvent]) -> list[TrackedEvent]:
        """BatchWriteItem has no condition, so the batch's keys are read first (BatchGetItem, strongly consistent,
        keys only) and only the absent ones are written.

        Cost, measured against the plain BatchWriteItem it replaces (tests/contract/test_event_store.py counts the
        requests): per 25 new events, 1 BatchGetItem + 1 BatchWriteItem request instead of 1; per event +1 read
        unit (strongly consistent, an absent item is still billed the minimum) beside its 1+ write units (an event
        body is ~1-2 KB), i.e. ~+20% of the on-demand price of storing an event (a read unit is a fifth of a write
        unit's price). A re-sent event now costs one read unit instead of a write. Conditional PutItems would add
        no units but one round trip per event instead of one per 25 (100 per request for the read).

        Race: two requests carrying the same new key between one's read and its write (a few milliseconds) both
        write it; the second write is a MODIFY, which the fold ignores, so the profile holds the first body and
        only the stored copy is the later one. A forger would have to know a messageId before it is stored and hit
        that window; the single-event path (conditional put) has no window at all.
        """
        if not events:
            return []
        unique = list({e.key: e for e in events}.values())
        present = self._existing([e.key for e in unique])
        fresh = [e for e in unique if e.key not in present]
        if fresh:
            batch_write(self.table, [{"PutRequest": {"Item": e.to_item(self._expires(e))}} for e in fresh])
        return fresh

    def _existing(self, keys: list[str]) -> set[str]:
        ddb = client("dynamodb")
        found: set[str] = set()
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [{"pk": {"S": k}} for k in keys[start : start + 100]],
                    "ProjectionExpression": "pk",
                    "ConsistentRead": True,
                }
            }
            while request:
                response = ddb.batch_get_item(RequestItems=request)
                found.update(item["pk"]["S"] for item in response.get("Responses", {}).get(self.table, []))
                request = response.get("UnprocessedKeys") or {}
        return found

    def history(self, profile_id: str, limit: int = 50, newest_first: bool = True) -> list[TrackedEvent]:
        response = client("dynamodb").query(
            TableName=self.table,
            IndexName="by_profile",
            KeyConditionExpression="profile_id = :p",
            ExpressionAttributeValues={":p": {"S": profile_id}},
            ScanIndexForward=not newest_first,
            Limit=limit,
        )
        return [TrackedEvent.from_item(item) for item in response.get("Items", [])]

    def delete(self, keys: list[str]) -> None:
        batch_write(self.table, [{"DeleteRequest": {"Key": {"pk": {"S": key}}}} for key in keys])

    def repoint(self, from_profile: str, to_profile: str) -> int:
        ddb = client("dynamodb")
        moved = 0
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "by_profile",
            "KeyConditionExpression": "profile_id = :p",
            "ExpressionAttributeValues": {":p": {"S": from_profile}},
        }
        while True:
            page = ddb.query(**kwargs)
            items = page.get("Items", [])
            # Rewriting the whole item (not UpdateItem) lets us batch 25 a request; the stream shows a MODIFY,
            # which the fold ignores, so moved history is never counted twice.
            for item in items:
                item["profile_id"] = {"S": to_profile}
            if items:
                batch_write(self.table, [{"PutRequest": {"Item": item}} for item in items])
                moved += len(items)
            if "LastEvaluatedKey" not in page:
                return moved
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class DynamoFailedEventStore:
    """Snowplow-style bad rows: what failed, why, and the raw input (truncated), kept for a while and listable."""

    MAX_RAW_CHARS = 16_000

    def __init__(self, table: str, ttl_days: int) -> None:
        self.table = table
        self.ttl_seconds = ttl_days * 86400

    def record(self, source_id: str | None, reason: dict[str, Any], raw: Any) -> None:
        now = datetime.now(UTC)
        raw_text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
        client("dynamodb").put_item(
            TableName=self.table,
            Item={
                "day": {"S": now.strftime("%Y-%m-%d")},
                "id": {"S": f"{now.strftime('%H:%M:%S.%f')}#{uuid.uuid4().hex[:12]}"},
                "source_id": {"S": source_id or "-"},
                "reason": {"S": json.dumps(reason)},
                "raw": {"S": raw_text[: self.MAX_RAW_CHARS] or "-"},
                "truncated": {"BOOL": len(raw_text) > self.MAX_RAW_CHARS},
                "received_at": {"S": now.isoformat()},
                "expires_at": {"N": str(int(now.timestamp()) + self.ttl_seconds)},
            },
        )

    def list(self, day: str, limit: int = 50, cursor: str | None = None) -> tuple[list[FailedEvent], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#d = :d",
            "ExpressionAttributeNames": {"#d": "day"},
            "ExpressionAttributeValues": {":d": {"S": day}},
            "Limit": limit,
            "ScanIndexForward": False,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        page = client("dynamodb").query(**kwargs)
        rows: list[FailedEvent] = [
            {
                "id": item["id"]["S"],
                "day": item["day"]["S"],
                "source_id": item["source_id"]["S"],
                "reason": json.loads(item["reason"]["S"]),
                "raw": item["raw"]["S"],
                "truncated": item.get("truncated", {}).get("BOOL", False),
                "received_at": item["received_at"]["S"],
            }
            for item in page.get("Items", [])
        ]
        next_cursor = None
        if "LastEvaluatedKey" in page:
            next_cursor = base64.urlsafe_b64encode(json.dumps(page["LastEvaluatedKey"]).encode()).decode()
        return rows, next_cursor
