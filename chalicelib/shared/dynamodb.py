"""DynamoDB helpers shared by the adapters: a Query followed to its last page, BatchGetItem and BatchWriteItem until
nothing is left."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.shared.aws import client
from chalicelib.shared.faults import StorageUnavailable


def query_all(**kwargs: Any) -> list[dict[str, Any]]:
    """Every item a Query matches, following `LastEvaluatedKey`. Use only where the result is bounded by design
    (one person's items, one profile's history): it holds everything in memory."""
    ddb = client("dynamodb")
    items: list[dict[str, Any]] = []
    while True:
        page = ddb.query(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def batch_write(table: str, requests: list[dict[str, Any]], max_rounds: int = 8) -> None:
    """BatchWriteItem in chunks of 25, re-sending unprocessed items with backoff (throttling returns them to us)."""
    ddb = client("dynamodb")
    for start in range(0, len(requests), 25):
        pending = requests[start : start + 25]
        for attempt in range(max_rounds):
            response = ddb.batch_write_item(RequestItems={table: pending})
            pending = response.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                break
            time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise StorageUnavailable(f"{len(pending)} items still unprocessed after {max_rounds} rounds")


def batch_get(
    table: str,
    keys: list[dict[str, Any]],
    *,
    consistent: bool = False,
    projection: str | None = None,
    max_rounds: int = 8,
) -> list[dict[str, Any]]:
    """The items stored under `keys` (absent ones are simply missing), in BatchGetItem requests of 100, asking again
    for unprocessed keys with backoff. `projection`: a ProjectionExpression of plain attribute names."""
    ddb = client("dynamodb")
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {"Keys": keys[start : start + 100], "ConsistentRead": consistent}
        if projection:
            request["ProjectionExpression"] = projection
        for attempt in range(max_rounds):
            response = ddb.batch_get_item(RequestItems={table: request})
            found.extend(response.get("Responses", {}).get(table, []))
            unprocessed = response.get("UnprocessedKeys", {}).get(table)
            if not unprocessed:
                break
            request = unprocessed
            time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise StorageUnavailable(f"{len(request.get('Keys', []))} keys still unprocessed after {max_rounds} rounds")
    return found


def add_once_per_batch(
    table: str, marker_pk: str, last_sequence: str, expires_at: int, updates: list[dict[str, Any]]
) -> str | None:
    """Apply `updates` (TransactWriteItems entries, at most 99) with a conditional batch marker (`marker_pk` / `-`,
    holding the batch's `last_sequence`) in ONE transaction: a stream batch's counters, exactly once per first record.

    None when applied; when the marker already exists (a re-delivery starting at the same record), nothing is applied
    and the last sequence that marker counted is returned: the caller counts the records past it under their own
    marker. Any other cancellation (conflicts, throttling) raises: transient, the batch is retried."""
    ddb = client("dynamodb")
    marker_key = {"pk": {"S": marker_pk}, "sk": {"S": "-"}}
    marker = {
        "Put": {
            "TableName": table,
            "Item": {**marker_key, "last": {"S": last_sequence}, "expires_at": {"N": str(expires_at)}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    try:
        ddb.transact_write_items(TransactItems=[marker, *updates])
    except ddb.exceptions.TransactionCanceledException as exc:
        reasons = exc.response.get("CancellationReasons") or []
        if not reasons or reasons[0].get("Code") != "ConditionalCheckFailed":
            raise
        found = ddb.get_item(TableName=table, Key=marker_key, ConsistentRead=True).get("Item", {})
        return str(found.get("last", {}).get("S", last_sequence))
    return None
