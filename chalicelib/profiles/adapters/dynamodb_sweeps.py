"""RFM / needs-group cut points and the lifecycle sweep's progress in DynamoDB.

Items:
- StateTable `pk=cut_points, sk=rfm|group`: body (JSON), computed_at.
- StateTable `pk=sweep, sk=lifecycle`: swept_through, day, cursor, updated_at.
- ProfilesTable's sparse `by_due_day` index (due_day, profile_id): the profiles a sweep day re-evaluates.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from chalicelib.profiles.ports import SweepState
from chalicelib.scoring.rfm import GroupCutPoints, RfmCutPoints
from chalicelib.shared.aws import client

CUT_POINTS_PK = "cut_points"
SWEEP_PK, SWEEP_SK = "sweep", "lifecycle"
CUT_POINTS_CACHE_SECONDS = 300.0


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DynamoCutPointStore:
    """Cut points change once a day; every fold needs them, so a warm Lambda keeps them for five minutes."""

    def __init__(self, state_table: str, cache_seconds: float = CUT_POINTS_CACHE_SECONDS) -> None:
        self.state_table = state_table
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, RfmCutPoints | None, GroupCutPoints | None] | None = None

    def current(self) -> tuple[RfmCutPoints | None, GroupCutPoints | None]:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self.cache_seconds:
            return self._cached[1], self._cached[2]
        page = client("dynamodb").query(
            TableName=self.state_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": CUT_POINTS_PK}},
        )
        bodies = {item["sk"]["S"]: item["body"]["S"] for item in page.get("Items", [])}
        rfm = RfmCutPoints.model_validate_json(bodies["rfm"]) if "rfm" in bodies else None
        group = GroupCutPoints.model_validate_json(bodies["group"]) if "group" in bodies else None
        self._cached = (now, rfm, group)
        return rfm, group

    def save(self, rfm: RfmCutPoints, group: GroupCutPoints) -> None:
        ddb = client("dynamodb")
        for sk, model in (("rfm", rfm), ("group", group)):
            ddb.put_item(
                TableName=self.state_table,
                Item={
                    "pk": {"S": CUT_POINTS_PK},
                    "sk": {"S": sk},
                    "body": {"S": model.model_dump_json()},
                    "computed_at": {"S": model.computed_at or _now_iso()},
                },
            )
        # This container (the job's own refolds) sees the new values at once; others within the cache period.
        self._cached = (time.monotonic(), rfm, group)

    def forget(self) -> None:
        self._cached = None


class DynamoSweepStore:
    """The sparse `by_due_day` index of the profiles table and the sweep's progress record."""

    def __init__(self, profiles_table: str, state_table: str) -> None:
        self.profiles_table = profiles_table
        self.state_table = state_table

    def due_profiles(self, day: str, limit: int, start_after: str | None) -> tuple[list[str], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.profiles_table,
            "IndexName": "by_due_day",
            "KeyConditionExpression": "due_day = :d",
            "ExpressionAttributeValues": {":d": {"S": day}},
            "Limit": limit,
        }
        if start_after:
            kwargs["ExclusiveStartKey"] = {
                "due_day": {"S": day},
                "profile_id": {"S": start_after},
            }
        page = client("dynamodb").query(**kwargs)
        ids = [item["profile_id"]["S"] for item in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        return ids, last["profile_id"]["S"] if last else None

    def load(self) -> SweepState:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.state_table, Key={"pk": {"S": SWEEP_PK}, "sk": {"S": SWEEP_SK}}, ConsistentRead=True
            )
            .get("Item")
        )
        if not item:
            return SweepState()
        return SweepState(
            swept_through=item.get("swept_through", {}).get("S"),
            day=item.get("day", {}).get("S"),
            cursor=item.get("cursor", {}).get("S"),
        )

    def save(self, state: SweepState) -> None:
        item: dict[str, Any] = {"pk": {"S": SWEEP_PK}, "sk": {"S": SWEEP_SK}, "updated_at": {"S": _now_iso()}}
        for name in ("swept_through", "day", "cursor"):
            value = getattr(state, name)
            if value:
                item[name] = {"S": value}
        client("dynamodb").put_item(TableName=self.state_table, Item=item)
