"""The similar-items and popularity lists in the StateTable: one item per list, written once per event.

Items: `pk=sim#<product>` / `pop#<category>`, `sk=list`, the list as compact JSON in `b` and a version `v`;
`pk=simfact#<event key>`, `sk=fact` marks an applied event (TTL 30 days, longer than any stream retry).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from chalicelib.recommendations.similarity import STOCK_KEY, Delta, marked_out_of_stock, updated
from chalicelib.shared.aws import client
from chalicelib.shared.faults import StorageUnavailable

log = logging.getLogger("one2one")
SK = "list"
FACT_DAYS = 30
ATTEMPTS = 6


class DynamoSimilarItems:
    """`SimilarItemsStore` on the StateTable.

    One event is one TransactWriteItems: the fact marker (put if absent) and each list it touches (put if its
    version is still the one read), so a replayed record counts nothing and two consumers updating the same list
    never lose an increment: the loser of a race reads again and retries."""

    def __init__(self, table: str) -> None:
        self.table = table

    def read(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return {k: state for k, (state, _v) in self._read(keys, consistent=False).items()}

    def apply(self, fact: str, deltas: Mapping[str, Delta], now: datetime) -> bool:
        ddb = client("dynamodb")
        keys = sorted(deltas)
        expires = str(int((now + timedelta(days=FACT_DAYS)).timestamp()))
        for attempt in range(ATTEMPTS):
            read = self._read(keys, consistent=True)
            states = {k: s for k, (s, _v) in read.items()}
            new = updated(states, deltas)
            items: list[dict[str, Any]] = [
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {"pk": {"S": f"simfact#{fact}"}, "sk": {"S": "fact"}, "expires_at": {"N": expires}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
            for key in keys:
                version = read[key][1] if key in read else 0
                put: dict[str, Any] = {
                    "TableName": self.table,
                    "Item": {
                        "pk": {"S": key},
                        "sk": {"S": SK},
                        "b": {"S": json.dumps(new[key], separators=(",", ":"), sort_keys=True)},
                        "v": {"N": str(version + 1)},
                    },
                }
                if version:
                    put["ConditionExpression"] = "v = :v"
                    put["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
                else:
                    put["ConditionExpression"] = "attribute_not_exists(pk)"
                items.append({"Put": put})
            try:
                ddb.transact_write_items(TransactItems=items)
                return True
            except ddb.exceptions.TransactionCanceledException as error:
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons") or []]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False  # this event was applied already (a replayed stream record)
                log.info("recommendations: lists changed under event %s (%s); reading again", fact, reasons)
            time.sleep(min(0.02 * 2**attempt, 0.5))
        raise StorageUnavailable(f"similar-items lists kept changing under event {fact}")

    def mark_stock(self, product_id: str, in_stock: bool, at: str) -> None:
        ddb = client("dynamodb")
        for attempt in range(ATTEMPTS):
            read = self._read([STOCK_KEY], consistent=True)
            state, version = read.get(STOCK_KEY, ({}, 0))
            new = marked_out_of_stock(state, product_id, in_stock, at)
            if new == {"ids": dict(state.get("ids") or {})}:
                return  # already so: a replayed change writes nothing
            put: dict[str, Any] = {
                "TableName": self.table,
                "Item": {
                    "pk": {"S": STOCK_KEY},
                    "sk": {"S": SK},
                    "b": {"S": json.dumps(new, separators=(",", ":"), sort_keys=True)},
                    "v": {"N": str(version + 1)},
                },
            }
            if version:
                put["ConditionExpression"] = "v = :v"
                put["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
            else:
                put["ConditionExpression"] = "attribute_not_exists(pk)"
            try:
                ddb.put_item(**put)
                return
            except ddb.exceptions.ConditionalCheckFailedException:
                time.sleep(min(0.02 * 2**attempt, 0.5))  # another change won: read again
        raise StorageUnavailable(f"the out-of-stock list kept changing under {product_id}")

    def _read(self, keys: list[str], consistent: bool) -> dict[str, tuple[dict[str, Any], int]]:
        ddb = client("dynamodb")
        out: dict[str, tuple[dict[str, Any], int]] = {}
        for start in range(0, len(keys), 100):
            chunk = [{"pk": {"S": k}, "sk": {"S": SK}} for k in keys[start : start + 100]]
            request: dict[str, Any] = {self.table: {"Keys": chunk, "ConsistentRead": consistent}}
            for attempt in range(8):
                response = ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    out[item["pk"]["S"]] = (json.loads(item["b"]["S"]), int(item["v"]["N"]))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(0.02 * 2**attempt, 0.5))
            else:
                raise StorageUnavailable("similar-items lists still unprocessed after retries")
        return out
