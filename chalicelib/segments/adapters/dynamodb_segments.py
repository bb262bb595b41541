"""Segment membership and sizes and the customer population in DynamoDB.

Items (see docs/ARCHITECTURE.md):
- SegmentMembersTable `segment_id=<segment>, profile_id`: entered_at, version (the profile version that entered).
- SegmentMembersTable `segment_id=$customers#<0..3>, profile_id`: the customer population (version, last_order_ts,
  orders, revenue, needs_group, rfm digits, gvp = group value percentile, first_order_ts).
- StateTable `pk=segment_size, sk=<segment>`: size (atomic counter), updated_at.
- StateTable `pk=segment_exit, sk=<segment>#<profile>#<version>`: expires_at (TTL); an erasure exit was counted.
(The cut points and the sweep's progress, also in the StateTable, are the profiles wing's: see
`profiles/adapters/dynamodb_sweeps.py`.)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from chalicelib.segments.ports import CustomerRow, SegmentStore
from chalicelib.shared.aws import client

SIZE_PK = "segment_size"
EXIT_MARKER_PK = "segment_exit"
EXIT_MARKER_TTL_SECONDS = 3 * 86400  # > the 24 h stream retention: any replay of the record still finds the marker
# The customer population lives in the members table as a system "segment" (configured names cannot start with `$`).
# Sharded so that a burst of orders does not land on one partition key (1,000 writes/s per key); reading it back is
# POPULATION_SHARDS Queries, never a Scan.
POPULATION_PREFIX = "$customers#"
POPULATION_SHARDS = 4
MAX_CURSOR_CHARS = 2048


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cancelled_by_condition(exc: Any) -> bool:
    """A transaction cancelled only because our own condition failed: the write was already done (a replay)."""
    reasons = exc.response.get("CancellationReasons") or []
    codes = {r.get("Code") for r in reasons} - {"None", None}
    return codes == {"ConditionalCheckFailed"}


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
    """Membership items plus their counters, always changed together in one transaction (see `enter`)."""

    def __init__(self, members_table: str, state_table: str) -> None:
        self.members_table = members_table
        self.state_table = state_table

    def _size_update(self, segment_id: str, delta: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.state_table,
                "Key": {"pk": {"S": SIZE_PK}, "sk": {"S": segment_id}},
                "UpdateExpression": "ADD #size :d SET updated_at = :t",
                "ExpressionAttributeNames": {"#size": "size"},
                "ExpressionAttributeValues": {":d": {"N": str(delta)}, ":t": {"S": _now_iso()}},
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> bool:
        ddb = client("dynamodb")
        try:
            ddb.transact_write_items(TransactItems=items)
        except ddb.exceptions.TransactionCanceledException as exc:
            if _cancelled_by_condition(exc):
                return False
            raise  # conflicts or throttling: transient, the record is retried
        return True

    def enter(self, segment_id: str, profile_id: str, entered_at: str, version: int) -> bool:
        # Membership item and counter in one transaction: the counter moves only when the item really appears, so a
        # replayed stream record (item already there) changes nothing and a crash cannot leave the two out of step.
        put = {
            "Put": {
                "TableName": self.members_table,
                "Item": {
                    "segment_id": {"S": segment_id},
                    "profile_id": {"S": profile_id},
                    "entered_at": {"S": entered_at},
                    "version": {"N": str(version)},
                },
                "ConditionExpression": "attribute_not_exists(profile_id)",
            }
        }
        return self._transact([put, self._size_update(segment_id, 1)])

    def leave(self, segment_id: str, profile_id: str) -> bool:
        delete = {
            "Delete": {
                "TableName": self.members_table,
                "Key": {"segment_id": {"S": segment_id}, "profile_id": {"S": profile_id}},
                "ConditionExpression": "attribute_exists(profile_id)",
            }
        }
        return self._transact([delete, self._size_update(segment_id, -1)])

    def leave_erased(self, segment_id: str, profile_id: str, version: int) -> bool:
        # The privacy erasure deletes membership items itself, so "the item was still there" cannot tell whether this
        # exit was counted. A marker per (segment, profile, tombstone version), written in the same transaction as the
        # decrement, can: a replay finds the marker and changes nothing.
        marker = {
            "Put": {
                "TableName": self.state_table,
                "Item": {
                    "pk": {"S": EXIT_MARKER_PK},
                    "sk": {"S": f"{segment_id}#{profile_id}#{version}"},
                    "expires_at": {"N": str(int(time.time()) + EXIT_MARKER_TTL_SECONDS)},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        delete = {
            "Delete": {
                "TableName": self.members_table,
                "Key": {"segment_id": {"S": segment_id}, "profile_id": {"S": profile_id}},
            }
        }
        return self._transact([marker, delete, self._size_update(segment_id, -1)])

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
