"""The shared sending-rate counter: one StateTable item per channel and window, `ADD n` only while it stays in limit."""

from __future__ import annotations

from typing import Any

from chalicelib.shared.aws import client

# A window's item is read only during its own second(s); kept an hour for anyone looking at the rate afterwards.
WINDOW_TTL_SECONDS = 3600
TAKE_ATTEMPTS = 3  # a partial take after a refused full one, racing other containers for the same last slots


def rate_pk(channel: str, window: int) -> str:
    return f"rate#{channel}#{window}"


class DynamoSendRateCounter:
    """`take` is one UpdateItem: ADD the wanted slots on condition the count stays within the limit. When the window
    has fewer slots left than wanted, the refused write returns the count (ReturnValuesOnConditionCheckFailure), and
    what is left is taken in a second write. A key per window spreads the writes over partitions as time passes."""

    def __init__(self, table: str) -> None:
        self.table = table

    def take(self, channel: str, window: int, want: int, limit: int) -> int:
        ddb = client("dynamodb")
        for _ in range(TAKE_ATTEMPTS):
            if want <= 0 or limit <= 0:
                return 0
            try:
                ddb.update_item(
                    TableName=self.table,
                    Key={"pk": {"S": rate_pk(channel, window)}, "sk": {"S": "-"}},
                    UpdateExpression="ADD n :want SET expires_at = if_not_exists(expires_at, :exp)",
                    ConditionExpression="attribute_not_exists(n) OR n <= :room",
                    ExpressionAttributeValues={
                        ":want": {"N": str(want)},
                        ":room": {"N": str(limit - want)},
                        ":exp": {"N": str(window + WINDOW_TTL_SECONDS)},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ddb.exceptions.ConditionalCheckFailedException as exc:
                used = _count(exc.response.get("Item"))
                want = min(want, limit - used)
                continue
            return want
        return 0


def _count(item: dict[str, Any] | None) -> int:
    return int((item or {}).get("n", {}).get("N", "0"))
