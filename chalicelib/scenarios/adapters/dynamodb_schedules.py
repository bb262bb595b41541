"""The schedule firer's cursor and its (scenario, fire time) claims, in the StateTable.

| pk                     | sk             | what                                                             |
|------------------------|----------------|------------------------------------------------------------------|
| `schedule`             | `cursor`       | `at`: every fire time up to here is handled                      |
| `schedule#{scenario}`  | `{fire time}`  | a claim; `queued` true once its fan-out is on the audience queue |
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.shared.aws import client
from chalicelib.tracking.events import iso

CLAIM_TTL_DAYS = 30  # a claim only has to outlive the scheduler's look-back window (7 days at most)


class DynamoScheduleState:
    CURSOR_KEY = {"pk": {"S": "schedule"}, "sk": {"S": "cursor"}}

    def __init__(self, table: str) -> None:
        self.table = table

    def cursor(self) -> datetime | None:
        item = client("dynamodb").get_item(TableName=self.table, Key=self.CURSOR_KEY, ConsistentRead=True).get("Item")
        return datetime.fromisoformat(item["at"]["S"].replace("Z", "+00:00")) if item else None

    def set_cursor(self, at: datetime) -> None:
        client("dynamodb").put_item(TableName=self.table, Item={**self.CURSOR_KEY, "at": {"S": iso(at)}})

    @staticmethod
    def _key(scenario_id: str, fire_at: datetime) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"schedule#{scenario_id}"}, "sk": {"S": iso(fire_at)}}

    def claim(self, scenario_id: str, fire_at: datetime, now: datetime) -> bool:
        ddb = client("dynamodb")
        expires = str(int((now + timedelta(days=CLAIM_TTL_DAYS)).timestamp()))
        try:
            ddb.put_item(
                TableName=self.table,
                Item={
                    **self._key(scenario_id, fire_at),
                    "queued": {"BOOL": False},
                    "claimed_at": {"S": iso(now)},
                    "expires_at": {"N": expires},
                },
                # A claim whose fan-out never reached the queue (a crash in between) may be taken again.
                ConditionExpression="attribute_not_exists(pk) OR queued = :no",
                ExpressionAttributeValues={":no": {"BOOL": False}},
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def queued(self, scenario_id: str, fire_at: datetime, now: datetime) -> None:
        client("dynamodb").update_item(
            TableName=self.table,
            Key=self._key(scenario_id, fire_at),
            UpdateExpression="SET queued = :yes, queued_at = :at",
            ExpressionAttributeValues={":yes": {"BOOL": True}, ":at": {"S": iso(now)}},
        )
