"""The in-app state in the StateTable: one item per person (`inapp#<profile_id>`, `state`), written conditionally.

The body is one JSON string (triggered messages, impressions, clicks, dismissals) with a `version` each write moves,
so two writers (the stream folding a view, a scenario step delivering a message) never lose each other's change.
`expires_at` lets the table's TTL drop the state of a person nobody has shown anything to for a year and more.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.inapp.state import InAppState
from chalicelib.shared.aws import client

SK = "state"
KEEP_FOR = timedelta(days=400)
MAX_ATTEMPTS = 5


class InAppStateConflict(Exception):
    """Other writers kept moving this person's state; the caller retries later (the stream record is retried)."""


class DynamoInAppStateStore:
    """Satisfies `inapp.ports.InAppStateStore` (contract: tests/contract/test_inapp_state_store.py)."""

    def __init__(self, state_table: str) -> None:
        self.table = state_table

    def _key(self, profile_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"inapp#{profile_id}"}, "sk": {"S": SK}}

    def _read(self, profile_id: str, consistent: bool) -> InAppState | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key=self._key(profile_id), ConsistentRead=consistent)
            .get("Item")
        )
        if not item:
            return None
        return InAppState.from_dict(json.loads(item["body"]["S"]), int(item["version"]["N"]))

    def get(self, profile_id: str) -> InAppState | None:
        # Eventually consistent: half the read cost on the fetch path; a view a second old is harmless there.
        return self._read(profile_id, consistent=False)

    def update(self, profile_id: str, change: Callable[[InAppState], bool], now: datetime) -> InAppState:
        ddb = client("dynamodb")
        for _ in range(MAX_ATTEMPTS):
            state = self._read(profile_id, consistent=True) or InAppState()
            if not change(state):
                return state
            item = {
                **self._key(profile_id),
                "body": {"S": json.dumps(state.to_dict(), separators=(",", ":"), ensure_ascii=False)},
                "version": {"N": str(state.version + 1)},
                "expires_at": {"N": str(int((now + KEEP_FOR).timestamp()))},
            }
            condition: dict[str, Any] = (
                {"ConditionExpression": "attribute_not_exists(pk)"}
                if state.version == 0
                else {
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":v": {"N": str(state.version)}},
                }
            )
            try:
                ddb.put_item(TableName=self.table, Item=item, **condition)
            except ddb.exceptions.ConditionalCheckFailedException:
                continue
            state.version += 1
            return state
        raise InAppStateConflict(profile_id)

    # -- the person's rights (privacy wing: export and erasure by key) -------------------------------------------------
    def export(self, profile_ids: list[str]) -> list[dict[str, Any]]:
        """The in-app state of these profiles, as stored (JSON-ready)."""
        out = []
        for profile_id in profile_ids:
            state = self._read(profile_id, consistent=True)
            if state is not None:
                out.append({"profile_id": profile_id, **state.to_dict()})
        return out

    def erase(self, profile_ids: list[str]) -> int:
        """Delete these profiles' in-app state; how many items there were."""
        ddb = client("dynamodb")
        erased = 0
        for profile_id in profile_ids:
            answer = ddb.delete_item(TableName=self.table, Key=self._key(profile_id), ReturnValues="ALL_OLD")
            erased += int(bool(answer.get("Attributes")))
        return erased
