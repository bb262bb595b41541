"""Segment membership and sizes and the customer population in DynamoDB.

Items (see docs/ARCHITECTURE.md):
- SegmentMembersTable `segment_id=<segment>, profile_id`: entered_at, version (the profile version that entered).
- SegmentMembersTable `segment_id=$customers#<0..3>, profile_id`: the customer population (version, last_order_ts,
  orders, revenue, needs_group, rfm digits, gvp = group value percentile, first_order_ts).
- SegmentMembersTable `segment_id=$segments, profile_id=<segment>`: first_entered_at. The registry of every segment that
  ever had a member, written before its first member item (once per container): an erasure reads a person's
  memberships by key in each of them (`member_partitions`), the table having no index by profile.
- StateTable `pk=segment_size, sk=<segment>`: size (atomic counter, moved only by `DynamoSegmentSizeCounter` from the
  members table's stream), updated_at.
- StateTable `pk=segsizebatch#<first sequence>, sk=-`: last (sequence), expires_at (TTL); one counted stream batch.
(The cut points and the sweep's progress, also in the StateTable, are the profiles wing's: see
`profiles/adapters/dynamodb_sweeps.py`.)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import zlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from chalicelib.segments.ports import CustomerRow, SegmentSizeCounter, SegmentStore
from chalicelib.segments.sizes import SizeDeltas
from chalicelib.shared.aws import client
from chalicelib.shared.dynamodb import add_once_per_batch, query_all

SIZE_PK = "segment_size"
BATCH_MARKER_PREFIX = "segsizebatch#"
BATCH_MARKER_TTL_SECONDS = 3 * 86400  # > the 24 h stream retention: any re-delivery of the batch still finds it
MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems' limit: the marker and at most 99 segments
# The customer population lives in the members table as a system "segment" (configured names cannot start with `$`).
# Sharded so that a burst of orders does not land on one partition key (1,000 writes/s per key); reading it back is
# POPULATION_SHARDS Queries, never a Scan.
POPULATION_PREFIX = "$customers#"
POPULATION_SHARDS = 4
REGISTRY_PARTITION = "$segments"  # a system row too: the size counter skips `$` partitions
MAX_CURSOR_CHARS = 2048


def encode_cursor(profile_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": profile_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The profile id a members page continues after. ValueError for anything we did not produce."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise ValueError("cursor is not valid")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("cursor is not valid") from None
    if not isinstance(data, dict) or not isinstance(data.get("p"), str) or not data["p"]:
        raise ValueError("cursor is not valid")
    return data["p"]


def population_shard(profile_id: str) -> str:
    return f"{POPULATION_PREFIX}{zlib.crc32(profile_id.encode()) % POPULATION_SHARDS}"


class DynamoSegmentStore(SegmentStore):
    """Membership items (plain conditional writes), the sizes counted from their stream, the customer population."""

    def __init__(self, members_table: str, state_table: str) -> None:
        self.members_table = members_table
        self.state_table = state_table
        self._registered: set[str] = set()  # segments this container has seen in the registry: no write again

    def _register(self, segment_id: str, entered_at: str) -> None:
        """The segment's registry row, before any member item of it can exist: a failure here stops the enter (the
        record is retried), so no member is ever written into a segment an erasure would not look in."""
        if segment_id in self._registered:
            return
        ddb = client("dynamodb")
        # Conditional, so the row keeps the first entry's time; a row already there (another container wrote it) is
        # the work done.
        with contextlib.suppress(ddb.exceptions.ConditionalCheckFailedException):
            ddb.put_item(
                TableName=self.members_table,
                Item={
                    "segment_id": {"S": REGISTRY_PARTITION},
                    "profile_id": {"S": segment_id},
                    "first_entered_at": {"S": entered_at},
                },
                ConditionExpression="attribute_not_exists(profile_id)",
            )
        self._registered.add(segment_id)

    def enter(self, segment_id: str, profile_id: str, entered_at: str, version: int) -> bool:
        # A plain conditional put: a replayed stream record finds the item already there and changes nothing. The size
        # follows from the item's own INSERT record (`DynamoSegmentSizeCounter`), so no transaction is needed.
        self._register(segment_id, entered_at)
        ddb = client("dynamodb")
        try:
            ddb.put_item(
                TableName=self.members_table,
                Item={
                    "segment_id": {"S": segment_id},
                    "profile_id": {"S": profile_id},
                    "entered_at": {"S": entered_at},
                    "version": {"N": str(version)},
                },
                ConditionExpression="attribute_not_exists(profile_id)",
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def leave(self, segment_id: str, profile_id: str) -> bool:
        # Gone already (a replay, or an erasure deleted it: its REMOVE was counted then) -> nothing to do.
        ddb = client("dynamodb")
        try:
            ddb.delete_item(
                TableName=self.members_table,
                Key={"segment_id": {"S": segment_id}, "profile_id": {"S": profile_id}},
                ConditionExpression="attribute_exists(profile_id)",
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def sizes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.state_table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": SIZE_PK}},
        }
        while True:
            page = client("dynamodb").query(**kwargs)
            for item in page.get("Items", []):
                out[item["sk"]["S"]] = int(item.get("size", {}).get("N", "0"))
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def member_partitions(self) -> list[str]:
        # The registry, plus the segments counted by the size counter: members written before the registry existed
        # (an upgraded stack) each had their INSERT counted there, so every segment holding one has a size row. Two
        # Queries of a few hundred keys at most: an erasure or an access request, never the hot path.
        registered = query_all(
            TableName=self.members_table,
            KeyConditionExpression="segment_id = :s",
            ExpressionAttributeValues={":s": {"S": REGISTRY_PARTITION}},
            ProjectionExpression="profile_id",
        )
        found = {item["profile_id"]["S"] for item in registered} | set(self.sizes())
        return sorted(found) + [f"{POPULATION_PREFIX}{shard}" for shard in range(POPULATION_SHARDS)]

    def members(
        self, segment_id: str, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.members_table,
            "KeyConditionExpression": "segment_id = :s",
            "ExpressionAttributeValues": {":s": {"S": segment_id}},
            "Limit": limit,
        }
        if cursor:
            # Rebuilt from the profile id alone, so a cursor cannot steer the query to another segment's partition.
            kwargs["ExclusiveStartKey"] = {"segment_id": {"S": segment_id}, "profile_id": {"S": decode_cursor(cursor)}}
        page = client("dynamodb").query(**kwargs)
        rows = [
            {
                "profile_id": item["profile_id"]["S"],
                "entered_at": item.get("entered_at", {}).get("S"),
                "version": int(item["version"]["N"]) if "version" in item else None,
            }
            for item in page.get("Items", [])
        ]
        last = page.get("LastEvaluatedKey")
        return rows, encode_cursor(last["profile_id"]["S"]) if last else None

    # -- the customer population (input of the cut-point job) -------------------------------------------------------
    def put_customer(self, row: CustomerRow) -> None:
        item: dict[str, Any] = {
            "segment_id": {"S": population_shard(row.profile_id)},
            "profile_id": {"S": row.profile_id},
            "version": {"N": str(row.version)},
            "last_order_ts": {"N": repr(float(row.last_order_ts))},
            "orders": {"N": str(row.orders)},
            "revenue": {"N": repr(float(row.revenue))},
        }
        if row.needs_group:
            item["needs_group"] = {"S": row.needs_group}
        if row.rfm:
            item["rfm"] = {"S": row.rfm}
        if row.percentile is not None:
            item["gvp"] = {"N": repr(float(row.percentile))}
        if row.first_order_ts is not None:
            item["first_order_ts"] = {"N": repr(float(row.first_order_ts))}
        ddb = client("dynamodb")
        # A replayed older record must not overwrite a newer row.
        with contextlib.suppress(ddb.exceptions.ConditionalCheckFailedException):
            ddb.put_item(
                TableName=self.members_table,
                Item=item,
                ConditionExpression="attribute_not_exists(profile_id) OR version <= :v",
                ExpressionAttributeValues={":v": {"N": str(row.version)}},
            )

    def remove_customer(self, profile_id: str) -> None:
        client("dynamodb").delete_item(
            TableName=self.members_table,
            Key={"segment_id": {"S": population_shard(profile_id)}, "profile_id": {"S": profile_id}},
        )

    def customers(self) -> Iterator[CustomerRow]:
        ddb = client("dynamodb")
        for shard in range(POPULATION_SHARDS):
            kwargs: dict[str, Any] = {
                "TableName": self.members_table,
                "KeyConditionExpression": "segment_id = :s",
                "ExpressionAttributeValues": {":s": {"S": f"{POPULATION_PREFIX}{shard}"}},
            }
            while True:
                page = ddb.query(**kwargs)
                for item in page.get("Items", []):
                    yield CustomerRow(
                        profile_id=item["profile_id"]["S"],
                        version=int(item["version"]["N"]),
                        last_order_ts=float(item["last_order_ts"]["N"]),
                        orders=int(item["orders"]["N"]),
                        revenue=float(item["revenue"]["N"]),
                        needs_group=item.get("needs_group", {}).get("S"),
                        rfm=item.get("rfm", {}).get("S"),
                        percentile=float(item["gvp"]["N"]) if "gvp" in item else None,
                        first_order_ts=float(item["first_order_ts"]["N"]) if "first_order_ts" in item else None,
                    )
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class DynamoSegmentSizeCounter(SegmentSizeCounter):
    """The `segment_size` counters, moved once per members-stream record (`segments.sizes`: why exactly once)."""

    def __init__(self, state_table: str) -> None:
        self.state_table = state_table

    def add_batch(self, batch: SizeDeltas, now: datetime) -> str | None:
        changes = batch.changes
        if not changes or batch.first_sequence is None:
            return None
        if len(changes) >= MAX_TRANSACTION_ITEMS:
            raise ValueError(f"{len(changes)} segments in one size batch: split it (`size_deltas(max_segments=)`)")
        at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        updates = [
            {
                "Update": {
                    "TableName": self.state_table,
                    "Key": {"pk": {"S": SIZE_PK}, "sk": {"S": segment_id}},
                    "UpdateExpression": "ADD #size :d SET updated_at = :t",
                    "ExpressionAttributeNames": {"#size": "size"},
                    "ExpressionAttributeValues": {":d": {"N": str(delta)}, ":t": {"S": at}},
                }
            }
            for segment_id, delta in changes.items()
        ]
        return add_once_per_batch(
            self.state_table,
            f"{BATCH_MARKER_PREFIX}{batch.first_sequence}",
            str(batch.last_sequence),
            int(now.timestamp()) + BATCH_MARKER_TTL_SECONDS,
            updates,
        )
