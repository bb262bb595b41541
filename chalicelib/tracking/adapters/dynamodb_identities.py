"""Identity records in DynamoDB: `IdentitiesTable` items (key, profile_id, linked_at; erased_at on tombstones)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.shared.aws import client


class DynamoIdentityStore:
    def __init__(self, table: str) -> None:
        self.table = table

    def lookup(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        ddb = client("dynamodb")
        for start in range(0, len(unique), 100):
            request = {self.table: {"Keys": [{"key": {"S": k}} for k in unique[start : start + 100]]}}
            while request:
                response = ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[item["key"]["S"]] = item["profile_id"]["S"]
                request = response.get("UnprocessedKeys") or {}
        return found

    def link(self, key: str, profile_id: str, *, only_if_absent: bool) -> bool:
        ddb = client("dynamodb")
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Item": {
                "key": {"S": key},
                "profile_id": {"S": profile_id},
                "linked_at": {"S": datetime.now(UTC).isoformat()},
            },
        }
        if only_if_absent:
            kwargs["ConditionExpression"] = "attribute_not_exists(#k) OR profile_id = :p"
            kwargs["ExpressionAttributeNames"] = {"#k": "key"}
            kwargs["ExpressionAttributeValues"] = {":p": {"S": profile_id}}
        try:
            ddb.put_item(**kwargs)
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def for_profile(self, profile_id: str) -> list[str]:
        response = client("dynamodb").query(
            TableName=self.table,
            IndexName="by_profile",
            KeyConditionExpression="profile_id = :p",
            ExpressionAttributeValues={":p": {"S": profile_id}},
        )
        return sorted(item["key"]["S"] for item in response.get("Items", []))
