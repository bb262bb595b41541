"""The similar-items and popularity lists in the StateTable: one item per list, written at most once per archive day.

Items: `pk=sim#<product>` / `pop#<category>`, `sk=list`, the list as compact JSON in `b`, a version `v` and the last
archive day applied to it `d` (`YYYY-MM-DD`); `pk=simlearnt`, `sk=cursor`: the last day the nightly job learnt
entirely (`day`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from chalicelib.recommendations.similarity import STOCK_KEY, Delta, day_updated, marked_out_of_stock
from chalicelib.shared.aws import client
from chalicelib.shared.faults import StorageUnavailable

log = logging.getLogger("one2one")
SK = "list"
CURSOR = {"pk": {"S": "simlearnt"}, "sk": {"S": "cursor"}}
ATTEMPTS = 6
CHUNK = 100  # lists read (one BatchGetItem) and written per round: memory holds a chunk, not every list of a day


class DynamoSimilarItems:
    """`SimilarItemsStore` on the StateTable.

    The nightly job writes each list of a day with one conditional PutItem (put if its version is still the one read,
    and only if the day is newer than the last day applied to it): a re-run of the day writes nothing twice, and two
    runs overlapping never lose an update (the loser reads again, sees the day applied, and leaves the list)."""

    def __init__(self, table: str) -> None:
        self.table = table

    def read(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return {k: state for k, (state, _v, _d) in self._read(keys, consistent=False).items()}

    def applied(self, keys: list[str]) -> dict[str, tuple[float, str]]:
        out: dict[str, tuple[float, str]] = {}
        for start in range(0, len(keys), CHUNK):  # one chunk's lists in memory at a time
            for key, (state, _v, day) in self._read(keys[start : start + CHUNK], consistent=False).items():
                out[key] = (float(state.get("t") or 0.0), day)
        return out

    def apply_day(self, day: str, deltas: Mapping[str, Delta], totals: Mapping[str, float]) -> int:
        written = 0
        keys = sorted(deltas)
        for start in range(0, len(keys), CHUNK):
            pending = keys[start : start + CHUNK]
            for attempt in range(ATTEMPTS):
                read = self._read(pending, consistent=True)
                todo = [k for k in pending if k not in read or read[k][2] < day]
                new = day_updated({k: read[k][0] for k in todo if k in read}, {k: deltas[k] for k in todo}, totals)
                lost = []
                for key in todo:
                    version = read[key][1] if key in read else 0
                    if self._put(key, new[key], version, day):
                        written += 1
                    else:
                        lost.append(key)  # another run wrote it meanwhile: read again (it may have this day now)
                if not lost:
                    break
                pending = lost
                log.info("similar items: %d lists changed under day %s; reading again", len(lost), day)
                time.sleep(min(0.02 * 2**attempt, 0.5))
            else:
                raise StorageUnavailable(f"similar-items lists kept changing under day {day}")
        return written

    def learnt_through(self) -> str | None:
        item = client("dynamodb").get_item(TableName=self.table, Key=CURSOR, ConsistentRead=True).get("Item")
        return item["day"]["S"] if item else None

    def set_learnt_through(self, day: str) -> None:
        client("dynamodb").put_item(TableName=self.table, Item={**CURSOR, "day": {"S": day}})

    def _put(self, key: str, state: dict[str, Any], version: int, day: str | None) -> bool:
        """Write a list if its version is still `version` (0: if it does not exist yet); False when another wrote it.
        `day`: the last archive day the list holds (None for the catalog's stock list, which learns no days)."""
        ddb = client("dynamodb")
        item: dict[str, Any] = {
            "pk": {"S": key},
            "sk": {"S": SK},
            "b": {"S": json.dumps(state, separators=(",", ":"), sort_keys=True)},
            "v": {"N": str(version + 1)},
        }
        if day is not None:
            item["d"] = {"S": day}
        put: dict[str, Any] = {"TableName": self.table, "Item": item}
        if version:
            put["ConditionExpression"] = "v = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
        else:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        try:
            ddb.put_item(**put)
            return True
        except ddb.exceptions.ConditionalCheckFailedException:
            return False

    def mark_stock(self, product_id: str, in_stock: bool, at: str) -> None:
        for attempt in range(ATTEMPTS):
            read = self._read([STOCK_KEY], consistent=True)
            state, version, _day = read.get(STOCK_KEY, ({}, 0, ""))
            new = marked_out_of_stock(state, product_id, in_stock, at)
            if new == {"ids": dict(state.get("ids") or {})}:
                return  # already so: a replayed change writes nothing
            if self._put(STOCK_KEY, new, version, None):
                return
            time.sleep(min(0.02 * 2**attempt, 0.5))  # another change won: read again
        raise StorageUnavailable(f"the out-of-stock list kept changing under {product_id}")

    def _read(self, keys: list[str], consistent: bool) -> dict[str, tuple[dict[str, Any], int, str]]:
        """(list, version, last day applied) by key, for the keys that exist."""
        ddb = client("dynamodb")
        out: dict[str, tuple[dict[str, Any], int, str]] = {}
        for start in range(0, len(keys), 100):
            chunk = [{"pk": {"S": k}, "sk": {"S": SK}} for k in keys[start : start + 100]]
            request: dict[str, Any] = {self.table: {"Keys": chunk, "ConsistentRead": consistent}}
            for attempt in range(8):
                response = ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    out[item["pk"]["S"]] = (
                        json.loads(item["b"]["S"]),
                        int(item["v"]["N"]),
                        item.get("d", {}).get("S", ""),
                    )
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(0.02 * 2**attempt, 0.5))
            else:
                raise StorageUnavailable("similar-items lists still unprocessed after retries")
        return out
