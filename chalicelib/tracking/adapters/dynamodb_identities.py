"""Identity records and profiles in DynamoDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.shared.aws import client
from chalicelib.tracking.ports import IdentityStore, ProfileStore


class DynamoIdentityStore(IdentityStore):
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


class DynamoProfileStore(ProfileStore):
    def __init__(self, table: str) -> None:
        self.table = table

    def get_many(self, profile_ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(profile_ids))
        ddb = client("dynamodb")
        for start in range(0, len(unique), 100):
            keys = [{"profile_id": {"S": p}} for p in unique[start : start + 100]]
            request = {self.table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[item["profile_id"]["S"]] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    def put(self, item: dict[str, Any], expected_version: int | None) -> bool:
        ddb = client("dynamodb")
        if expected_version is None:
            condition = {"ConditionExpression": "attribute_not_exists(profile_id)"}
        else:
            condition = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
            }
        try:
            ddb.put_item(TableName=self.table, Item=item, **condition)
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True
