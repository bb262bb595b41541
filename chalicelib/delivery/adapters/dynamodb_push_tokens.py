"""Push tokens' SNS side in the MessagesTable: the platform endpoint ARN of each token and its retirement.

| pk              | sk  | what                                                                          |
|-----------------|-----|-------------------------------------------------------------------------------|
| `push#{token}`  | `-` | `endpoint_arn` (created lazily), `retired_at` / `reason` once SNS disabled it |

One item per token (FCM tokens are case-sensitive: stored as given). A retired token keeps its item with no endpoint
and is never sent to again: `reinstate` (a re-registration with notifications allowed) removes the retirement.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from chalicelib.shared.aws import client
from chalicelib.tracking.events import iso

MAX_BATCH_GET = 100


def token_pk(token: str) -> str:
    return f"push#{token}"


class DynamoPushTokens:
    def __init__(self, table: str) -> None:
        self.table = table

    def endpoint(self, token: str) -> str | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key={"pk": {"S": token_pk(token)}, "sk": {"S": "-"}}, ConsistentRead=True)
            .get("Item")
        )
        if not item or "retired_at" in item:
            return None
        return item.get("endpoint_arn", {}).get("S")

    def remember_endpoint(self, token: str, arn: str) -> None:
        # Never over a retirement: a send racing the retirement must not bring the token back.
        try:
            client("dynamodb").update_item(
                TableName=self.table,
                Key={"pk": {"S": token_pk(token)}, "sk": {"S": "-"}},
                UpdateExpression="SET endpoint_arn = :arn",
                ConditionExpression="attribute_not_exists(retired_at)",
                ExpressionAttributeValues={":arn": {"S": arn}},
            )
        except client("dynamodb").exceptions.ConditionalCheckFailedException:
            pass

    def retired(self, tokens: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(tokens))
        out: set[str] = set()
        for start in range(0, len(wanted), MAX_BATCH_GET):
            keys = [{"pk": {"S": token_pk(t)}, "sk": {"S": "-"}} for t in wanted[start : start + MAX_BATCH_GET]]
            request = {self.table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = client("dynamodb").batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    if "retired_at" in item:
                        out.add(item["pk"]["S"].removeprefix("push#"))
                request = response.get("UnprocessedKeys") or {}
        return out

    def retire(self, token: str, reason: str, now: datetime) -> None:
        client("dynamodb").put_item(
            TableName=self.table,
            Item={
                "pk": {"S": token_pk(token)},
                "sk": {"S": "-"},
                "retired_at": {"S": iso(now)},
                "reason": {"S": reason},
            },
        )

    def export(self, tokens: Iterable[str]) -> list[dict[str, str]]:
        """What is kept about these tokens (endpoint ARN, retirement), for a person's access export."""
        out: list[dict[str, str]] = []
        for token in dict.fromkeys(tokens):
            item = (
                client("dynamodb")
                .get_item(
                    TableName=self.table, Key={"pk": {"S": token_pk(token)}, "sk": {"S": "-"}}, ConsistentRead=True
                )
                .get("Item")
            )
            if item:
                out.append({"token": token, **{k: v["S"] for k, v in item.items() if k not in ("pk", "sk")}})
        return out

    def erase(self, tokens: Iterable[str]) -> int:
        """Delete these tokens' records (a person's erasure; their endpoints are deleted first by the sender)."""
        erased = 0
        for token in dict.fromkeys(tokens):
            response = client("dynamodb").delete_item(
                TableName=self.table, Key={"pk": {"S": token_pk(token)}, "sk": {"S": "-"}}, ReturnValues="ALL_OLD"
            )
            erased += bool(response.get("Attributes"))
        return erased

    def reinstate(self, token: str) -> bool:
        response = client("dynamodb").delete_item(
            TableName=self.table,
            Key={"pk": {"S": token_pk(token)}, "sk": {"S": "-"}},
            ReturnValues="ALL_OLD",
        )
        return "retired_at" in response.get("Attributes", {})
