"""Paginated DynamoDB reads shared by the adapters (a Query followed to its last page)."""

from __future__ import annotations

from typing import Any

from chalicelib.shared.aws import client


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
