"""CatalogTable (products, one item each, streamed) and the interest index (StateTable `interest#<product>` items).

Why a table of its own for products: its stream carries exactly the catalog's writes (old and new image), which is
what catalog triggers need, reliably and retried; the StateTable has no stream, and putting products there would
mix them with counters. Why the interest index is NOT in CatalogTable: it is written on every product view, and the
stream would then wake the trigger reader for writes that change no product.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from chalicelib.catalog.ports import INTEREST_KINDS, Interest, InterestSignal, StoredProduct
from chalicelib.shared.aws import client
from chalicelib.shared.dynamodb import batch_get


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _encode_cursor(key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def _decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        raise ValueError("cursor is not one this API returned") from None
    if not isinstance(key, dict):
        raise ValueError("cursor is not one this API returned")
    return key


class DynamoCatalogStore:
    def __init__(self, table: str) -> None:
        self.table = table

    @staticmethod
    def _from_item(item: dict[str, Any]) -> StoredProduct:
        return StoredProduct.from_json(item["body"]["S"], int(item["version"]["N"]))

    def get(self, product_id: str) -> StoredProduct | None:
        item = client("dynamodb").get_item(TableName=self.table, Key={"product_id": {"S": product_id}}).get("Item")
        return self._from_item(item) if item else None

    def get_many(self, product_ids: Iterable[str]) -> dict[str, StoredProduct]:
        ids = sorted(set(product_ids))
        out: dict[str, StoredProduct] = {}
        ddb = client("dynamodb")
        for start in range(0, len(ids), 100):
            keys = [{"product_id": {"S": i}} for i in ids[start : start + 100]]
            request: dict[str, Any] = {self.table: {"Keys": keys}}
            for _ in range(8):
                page = ddb.batch_get_item(RequestItems=request)
                for item in page.get("Responses", {}).get(self.table, []):
                    stored = self._from_item(item)
                    out[stored.product.id] = stored
                request = page.get("UnprocessedKeys") or {}
                if not request:
                    break
        return out

    def put(self, stored: StoredProduct, expected_version: int | None) -> bool:
        p = stored.product
        item: dict[str, Any] = {
            "product_id": {"S": p.id},
            "version": {"N": str(stored.version)},
            "body": {"S": stored.to_json()},
            "price": {"N": repr(p.price)},
            "currency": {"S": p.currency},
            "in_stock": {"BOOL": p.available},
            "updated_at": {"S": p.updated_at or ""},
        }
        if p.stock is not None:
            item["stock"] = {"N": str(p.stock)}
        condition: dict[str, Any]
        if expected_version is None:
            condition = {"ConditionExpression": "attribute_not_exists(product_id)"}
        else:
            condition = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
            }
        ddb = client("dynamodb")
        try:
            ddb.put_item(TableName=self.table, Item=item, **condition)
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def page(self, limit: int, cursor: str | None) -> tuple[list[StoredProduct], str | None]:
        kwargs: dict[str, Any] = {"TableName": self.table, "Limit": limit}
        start = _decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = {"product_id": {"S": str(start.get("id", ""))}}
        page = client("dynamodb").scan(**kwargs)
        items = [self._from_item(i) for i in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        return items, _encode_cursor({"id": last["product_id"]["S"]} if last else None)


class DynamoInterestIndex:
    """`pk=interest#<product>`, `sk=<profile>`: `viewed_at` / `carted_at` / `wishlisted_at` (ISO), TTL `expires_at`.

    One UpdateItem per (person, product) a profile version showed interest in: ~1 write unit (the item is ~150
    bytes). The fan-out reads a product's partition a page at a time, never a profile."""

    def __init__(self, table: str) -> None:
        self.table = table

    def record(self, profile_id: str, signals: list[InterestSignal], keep_until: datetime) -> int:
        latest: dict[str, dict[str, datetime]] = {}
        for signal in signals:
            kinds = latest.setdefault(signal.product_id, {})
            if signal.kind not in kinds or signal.at > kinds[signal.kind]:
                kinds[signal.kind] = signal.at
        ddb = client("dynamodb")
        for product_id, kinds in sorted(latest.items()):
            names = {f"#{k}": f"{k}_at" for k in kinds}
            values: dict[str, Any] = {f":{k}": {"S": _iso(at)} for k, at in kinds.items()}
            values[":exp"] = {"N": str(int(keep_until.timestamp()))}
            # Unconditional SET: a replayed record writes the same value again. A person's events reach this
            # reader in order, so a time moves back only for an event that arrived late, by its lateness: harmless
            # against a window of weeks, and a condition to prevent it would cost a failed write on every replay.
            sets = ", ".join(f"#{k} = :{k}" for k in kinds)
            ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"interest#{product_id}"}, "sk": {"S": profile_id}},
                UpdateExpression=f"SET {sets}, expires_at = :exp",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        return len(latest)

    def forget(self, profile_id: str, product_ids: Iterable[str]) -> None:
        """Delete the person's interest in products they bought. Most bought products hold none (bought without a
        view, or forgotten already), and a delete costs a write unit whether or not the item exists: reading the keys
        first (a consistent read unit each, a fifth of the price) deletes only what is there. The person's own events
        reach this reader in order, so nothing of theirs is written between the read and the delete."""
        keys = [{"pk": {"S": f"interest#{p}"}, "sk": {"S": profile_id}} for p in sorted(set(product_ids))]
        stored = batch_get(self.table, keys, consistent=True, projection="pk, sk")
        ddb = client("dynamodb")
        for item in sorted(stored, key=lambda i: i["pk"]["S"]):
            ddb.delete_item(TableName=self.table, Key={"pk": item["pk"], "sk": item["sk"]})

    def interested(self, product_id: str, limit: int, cursor: str | None) -> tuple[list[Interest], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"interest#{product_id}"}},
            "Limit": limit,
        }
        start = _decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = {"pk": {"S": f"interest#{product_id}"}, "sk": {"S": str(start.get("sk"))}}
        page = client("dynamodb").query(**kwargs)
        out = [
            Interest(
                product_id=product_id,
                profile_id=item["sk"]["S"],
                **{f"{k}_at": item[f"{k}_at"]["S"] for k in INTEREST_KINDS if f"{k}_at" in item},
            )
            for item in page.get("Items", [])
        ]
        last = page.get("LastEvaluatedKey")
        return out, _encode_cursor({"sk": last["sk"]["S"]} if last else None)
