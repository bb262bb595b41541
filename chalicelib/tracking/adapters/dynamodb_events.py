"""Events and failed events in DynamoDB."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.shared.aws import client
from chalicelib.shared.dynamodb import batch_write, query_all
from chalicelib.shared.secrets import keyed_digest
from chalicelib.tracking.events import TrackedEvent
from chalicelib.tracking.identity import person_refs
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
    """Snowplow-style bad rows: what failed, why, and the raw input (truncated), kept for a while and listable.

    Rows are keyed by day (`day`, `id`: the operator's listing is a Query of one day), which erasure cannot find by
    person without reading every day. So each row also gets one pointer item per person ref in it
    (`identity.person_refs`): `day = ref#<keyed hash of the ref>`, `id = <row day>#<row id>`, same TTL, no other
    attribute. Pointers rather than a GSI: a row can hold several refs (userId, anonymousId, email, profile id) and an
    index key is one attribute; bad rows are rare, so the extra PutItems (one per ref, usually 1-3) cost nothing that
    shows, and the day listing never sees the pointers (their `day` is no date). The row lists its pointers (`refs`),
    so erasing it through one ref removes the others too.
    """

    MAX_RAW_CHARS = 16_000
    REF_PREFIX = "ref#"

    def __init__(self, table: str, ttl_days: int, secret: Callable[[], str] = lambda: "") -> None:
        self.table = table
        self.ttl_seconds = ttl_days * 86400
        self.secret = secret

    def _pointer(self, ref: str, secret: str) -> str:
        return self.REF_PREFIX + keyed_digest(secret, "failed", ref)[:40]

    def record(self, source_id: str | None, reason: dict[str, Any], raw: Any) -> None:
        now = datetime.now(UTC)
        raw_text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
        day, row_id = now.strftime("%Y-%m-%d"), f"{now.strftime('%H:%M:%S.%f')}#{uuid.uuid4().hex[:12]}"
        expires = {"N": str(int(now.timestamp()) + self.ttl_seconds)}
        refs = person_refs(raw)
        pointers = sorted({self._pointer(ref, self.secret()) for ref in refs}) if refs else []
        item: dict[str, Any] = {
            "day": {"S": day},
            "id": {"S": row_id},
            "source_id": {"S": source_id or "-"},
            "reason": {"S": json.dumps(reason)},
            "raw": {"S": raw_text[: self.MAX_RAW_CHARS] or "-"},
            "truncated": {"BOOL": len(raw_text) > self.MAX_RAW_CHARS},
            "received_at": {"S": now.isoformat()},
            "expires_at": expires,
        }
        if pointers:
            item["refs"] = {"SS": pointers}
        ddb = client("dynamodb")
        # Pointers first: a crash between the writes leaves a pointer to nothing, never a row erasure cannot find.
        for pointer in pointers:
            ddb.put_item(
                TableName=self.table,
                Item={"day": {"S": pointer}, "id": {"S": f"{day}#{row_id}"}, "expires_at": expires},
            )
        ddb.put_item(TableName=self.table, Item=item)

    def _rows_of(self, refs: list[str]) -> tuple[list[dict[str, Any]], set[str]]:
        """The rows pointed at by these refs (BatchGetItem) and every pointer partition that names them."""
        secret = self.secret()
        keys: dict[tuple[str, str], dict[str, Any]] = {}
        for pointer in {self._pointer(ref, secret) for ref in refs}:
            for item in query_all(
                TableName=self.table,
                KeyConditionExpression="#d = :d",
                ExpressionAttributeNames={"#d": "day"},
                ExpressionAttributeValues={":d": {"S": pointer}},
            ):
                day, row_id = item["id"]["S"].split("#", 1)
                keys[(day, row_id)] = {"day": {"S": day}, "id": {"S": row_id}}
        rows: list[dict[str, Any]] = []
        wanted = list(keys.values())
        ddb = client("dynamodb")
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {self.table: {"Keys": wanted[start : start + 100]}}
            while request:
                response = ddb.batch_get_item(RequestItems=request)
                rows.extend(response.get("Responses", {}).get(self.table, []))
                request = response.get("UnprocessedKeys") or {}
        return rows, {p for row in rows for p in row.get("refs", {}).get("SS", [])}

    def of_person(self, refs: list[str]) -> list[FailedEvent]:
        rows, _ = self._rows_of(refs)
        return sorted((_row(item) for item in rows), key=lambda r: (r["day"], r["id"]))

    def erase_person(self, refs: list[str]) -> int:
        rows, pointers = self._rows_of(refs)
        deletes = [{"day": row["day"], "id": row["id"]} for row in rows]
        for row in rows:
            target = f"{row['day']['S']}#{row['id']['S']}"
            deletes += [{"day": {"S": p}, "id": {"S": target}} for p in row.get("refs", {}).get("SS", [])]
        if deletes:
            batch_write(self.table, [{"DeleteRequest": {"Key": k}} for k in deletes])
        return len(rows)

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
        rows: list[FailedEvent] = [_row(item) for item in page.get("Items", [])]
        next_cursor = None
        if "LastEvaluatedKey" in page:
            next_cursor = base64.urlsafe_b64encode(json.dumps(page["LastEvaluatedKey"]).encode()).decode()
        return rows, next_cursor


def _row(item: dict[str, Any]) -> FailedEvent:
    return {
        "id": item["id"]["S"],
        "day": item["day"]["S"],
        "source_id": item["source_id"]["S"],
        "reason": json.loads(item["reason"]["S"]),
        "raw": item["raw"]["S"],
        "truncated": item.get("truncated", {}).get("BOOL", False),
        "received_at": item["received_at"]["S"],
    }
