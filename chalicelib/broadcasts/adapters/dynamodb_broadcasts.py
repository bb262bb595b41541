"""Broadcast status, progress and the launch list in the StateTable.

| pk                  | sk                | what                                                                   |
|---------------------|-------------------|------------------------------------------------------------------------|
| `broadcast#{id}`    | `status`          | status, at, paused_from, counters (targeted, started, skipped_unknown)  |
| `broadcast#{id}`    | `parked#{key}`    | a fan-out message held while the broadcast is paused (`message` JSON)   |
| `broadcasts_due`    | `{at}#{id}`       | a scheduled broadcast waiting for its time (the minute launcher Queries) |
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from chalicelib.shared.aws import client
from chalicelib.tracking.events import iso

DUE_PK = "broadcasts_due"


def _value(item: dict[str, Any]) -> Any:
    if "S" in item:
        return item["S"]
    if "N" in item:
        return int(item["N"])
    if "BOOL" in item:
        return item["BOOL"]
    return None


def _attr(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    return {"S": str(value)}


class DynamoBroadcastStatus:
    def __init__(self, table: str) -> None:
        self.table = table

    @staticmethod
    def _key(broadcast_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"broadcast#{broadcast_id}"}, "sk": {"S": "status"}}

    def get(self, broadcast_id: str) -> dict[str, Any] | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key=self._key(broadcast_id), ConsistentRead=True)
            .get("Item")
        )
        if not item:
            return None
        return {k: _value(v) for k, v in item.items() if k not in ("pk", "sk")}

    def create(self, broadcast_id: str, now: datetime) -> None:
        client("dynamodb").put_item(
            TableName=self.table,
            Item={**self._key(broadcast_id), "status": {"S": "draft"}, "updated_at": {"S": iso(now)}},
            ConditionExpression="attribute_not_exists(pk)",
        )

    def move(self, broadcast_id: str, allowed: tuple[str, ...], status: str, now: datetime, **fields: Any) -> bool:
        ddb = client("dynamodb")
        names = {"#s": "status", "#u": "updated_at"}
        values: dict[str, Any] = {":new": {"S": status}, ":now": {"S": iso(now)}}
        sets = ["#s = :new", "#u = :now"]
        for n, (name, value) in enumerate(fields.items()):
            names[f"#f{n}"], values[f":f{n}"] = name, _attr(value)
            sets.append(f"#f{n} = :f{n}")
        allowed_refs = []
        for n, value in enumerate(allowed):
            values[f":a{n}"] = {"S": value}
            allowed_refs.append(f":a{n}")
        try:
            ddb.update_item(
                TableName=self.table,
                Key=self._key(broadcast_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=f"#s IN ({', '.join(allowed_refs)})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def add(self, broadcast_id: str, **counts: int) -> None:
        counts = {k: v for k, v in counts.items() if v}
        if not counts:
            return
        client("dynamodb").update_item(
            TableName=self.table,
            Key=self._key(broadcast_id),
            UpdateExpression="ADD " + ", ".join(f"#c{n} :c{n}" for n in range(len(counts))),
            ExpressionAttributeNames={f"#c{n}": k for n, k in enumerate(counts)},
            ExpressionAttributeValues={f":c{n}": {"N": str(v)} for n, v in enumerate(counts.values())},
        )

    def set(self, broadcast_id: str, **fields: Any) -> None:
        client("dynamodb").update_item(
            TableName=self.table,
            Key=self._key(broadcast_id),
            UpdateExpression="SET " + ", ".join(f"#f{n} = :f{n}" for n in range(len(fields))),
            ExpressionAttributeNames={f"#f{n}": k for n, k in enumerate(fields)},
            ExpressionAttributeValues={f":f{n}": _attr(v) for n, v in enumerate(fields.values())},
        )

    def put_due(self, broadcast_id: str, at: datetime) -> None:
        client("dynamodb").put_item(
            TableName=self.table, Item={"pk": {"S": DUE_PK}, "sk": {"S": f"{iso(at)}#{broadcast_id}"}}
        )

    def drop_due(self, broadcast_id: str, at: datetime) -> None:
        client("dynamodb").delete_item(
            TableName=self.table, Key={"pk": {"S": DUE_PK}, "sk": {"S": f"{iso(at)}#{broadcast_id}"}}
        )

    def park(self, broadcast_id: str, message: dict[str, Any]) -> None:
        # Keyed by the message's content, so parking a redelivered copy overwrites itself.
        text = json.dumps(message, sort_keys=True, separators=(",", ":"))
        key = hashlib.sha256(text.encode()).hexdigest()[:32]
        client("dynamodb").put_item(
            TableName=self.table,
            Item={"pk": {"S": f"broadcast#{broadcast_id}"}, "sk": {"S": f"parked#{key}"}, "message": {"S": text}},
        )

    def parked(self, broadcast_id: str) -> list[tuple[str, dict[str, Any]]]:
        from chalicelib.shared.dynamodb import query_all

        items = query_all(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": {"S": f"broadcast#{broadcast_id}"}, ":p": {"S": "parked#"}},
            ConsistentRead=True,
        )
        return [(i["sk"]["S"], json.loads(i["message"]["S"])) for i in items]

    def unpark(self, broadcast_id: str, key: str) -> None:
        client("dynamodb").delete_item(
            TableName=self.table, Key={"pk": {"S": f"broadcast#{broadcast_id}"}, "sk": {"S": key}}
        )

    def due(self, until: datetime) -> list[tuple[str, datetime]]:
        from chalicelib.shared.dynamodb import query_all

        items = query_all(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk <= :until",
            ExpressionAttributeValues={":pk": {"S": DUE_PK}, ":until": {"S": f"{iso(until)}#\uffff"}},
            ConsistentRead=True,
        )
        out = []
        for item in items:
            at, _, broadcast_id = item["sk"]["S"].partition("#")
            out.append((broadcast_id, datetime.fromisoformat(at.replace("Z", "+00:00"))))
        return out
