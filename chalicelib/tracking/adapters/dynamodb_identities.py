"""Identity records in DynamoDB: `IdentitiesTable` items (key, profile_id, linked_at), and the tombstones of erased
identities under a keyed hash of their key (`h:...`, profile_id `erased`, erased_at)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from chalicelib.shared.aws import client
from chalicelib.tracking.identity import ERASED, erased_identity_key, tombstone_read_on_miss


class DynamoIdentityStore:
    def __init__(self, table: str, secret: Callable[[], str] = lambda: "") -> None:
        self.table = table
        self.secret = secret  # the signing key, resolved on the first miss (a Secrets Manager read when deployed)

    def lookup(self, keys: list[str]) -> dict[str, str]:
        """Records by key; a userId or email without one is looked for once more under its erased-tombstone hash
        (a second BatchGetItem, only for those misses: see `tombstone_read_on_miss`). Raw-keyed tombstones left by
        erasures before the hashed ones still resolve to `erased` through the first read."""
        unique = list(dict.fromkeys(keys))
        found = {key: item["profile_id"]["S"] for key, item in self._get(unique).items()}
        missed = [k for k in unique if k not in found and tombstone_read_on_miss(k)]
        if missed:
            secret = self.secret()
            hashed = {erased_identity_key(k, secret): k for k in missed}
            for tombstone in self._get(list(hashed)):
                found[hashed[tombstone]] = ERASED
        return found

    def _get(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        ddb = client("dynamodb")
        for start in range(0, len(keys), 100):
            request = {self.table: {"Keys": [{"key": {"S": k}} for k in keys[start : start + 100]]}}
            while request:
                response = ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[item["key"]["S"]] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    def link(self, key: str, profile_id: str, *, only_if_absent: bool, taking_from: str | None = None) -> bool:
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
            if taking_from is not None:
                kwargs["ConditionExpression"] += " OR profile_id = :from"
                kwargs["ExpressionAttributeValues"][":from"] = {"S": taking_from}
        try:
            ddb.put_item(**kwargs)
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def records(self) -> Iterator[tuple[str, str]]:
        """Every record of the table as (key, profile id), by a paginated Scan: for the one-off job that lists the
        identity keys of profiles written before they listed them (`profiles/identity_listing.py`), never the
        product's paths."""
        ddb = client("dynamodb")
        request: dict[str, Any] = {
            "TableName": self.table,
            "ProjectionExpression": "#k, profile_id",
            "ExpressionAttributeNames": {"#k": "key"},
        }
        while True:
            page = ddb.scan(**request)
            for item in page.get("Items", []):
                yield item["key"]["S"], item["profile_id"]["S"]
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
