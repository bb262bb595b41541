"""Profiles in DynamoDB: `ProfilesTable` items (profile_id, version, body, stage, due_day, merged_into, erased_at).

The item layout and the body codec are those of `profiles.codec` (`to_item` / `read_item`); erasure tombstones
(written by the privacy wing) carry `erased_at`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.profiles.codec import body_dict, read_item, to_item
from chalicelib.profiles.model import Profile
from chalicelib.profiles.ports import StoredProfile
from chalicelib.shared.aws import client


def stored_profile(item: dict[str, Any]) -> StoredProfile:
    """A profiles-table item (low-level attribute-value form) as the port's `StoredProfile`."""
    merged_into = item.get("merged_into")
    erased_at = item.get("erased_at")
    return StoredProfile(
        item["profile_id"]["S"],
        int(item["version"]["N"]) if "version" in item else 0,
        load=lambda: read_item(item),
        read=lambda: body_dict(item),
        merged_into=merged_into["S"] if merged_into else None,
        erased_at=erased_at["S"] if erased_at else None,
    )


class DynamoProfileStore:
    def __init__(self, table: str) -> None:
        self.table = table

    def get(self, profile_id: str) -> StoredProfile | None:
        return self.get_many([profile_id]).get(profile_id)

    def get_many(self, profile_ids: Iterable[str]) -> dict[str, StoredProfile]:
        found: dict[str, StoredProfile] = {}
        unique = list(dict.fromkeys(profile_ids))
        ddb = client("dynamodb")
        for start in range(0, len(unique), 100):
            keys = [{"profile_id": {"S": p}} for p in unique[start : start + 100]]
            request = {self.table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[item["profile_id"]["S"]] = stored_profile(item)
                request = response.get("UnprocessedKeys") or {}
        return found

    def put(self, profile: Profile, expected_version: int | None) -> bool:
        item = to_item(profile)
        ddb = client("dynamodb")
        condition: dict[str, Any]
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
