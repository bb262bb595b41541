"""The customer summary of the event archive, computed in Python: the same rules as the DuckDB query of
local/archive_query.py (`customers`) and the Athena query of the Athena adapter, for the archive's lines as they
are read (any order, duplicates included).

Verified orders only (the fold's rule: an unverified client claim buys nothing), each event key once (a stream batch
Lambda split on a retry is archived twice); the value is `properties.revenue`, else `properties.total`, else 0. In
days: frequency = orders - 1, recency = first to last order, T = first order to `end`, monetary_value = mean value of
the repeat orders (0 without any). Memory: one small record per buyer and the keys of the orders seen.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.predictions.ports import CustomerSummary
from chalicelib.shared.numbers import to_number

ORDER_EVENT = "Order Completed"
DAY_SECONDS = 86_400.0


@dataclass
class _Buyer:
    orders: list[tuple[str, float]] = field(default_factory=list)  # (ts, value): a buyer has few orders


def order_value(body: dict[str, Any]) -> float:
    found = body.get("properties")
    properties: dict[str, Any] = found if isinstance(found, dict) else {}
    for name in ("revenue", "total"):
        number = to_number(properties.get(name))
        if number is not None:
            return number
    return 0.0


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


class SummaryBuilder:
    """Feed archive lines (`add`), then read the summaries (`result`)."""

    def __init__(self) -> None:
        self.buyers: dict[str, _Buyer] = {}
        self.seen: set[str] = set()

    def add(self, line: dict[str, Any]) -> None:
        if line.get("event") != ORDER_EVENT or line.get("key") in self.seen:
            return
        try:
            body = json.loads(line.get("body") or "{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict) or str(body.get("unverified", False)).lower() == "true":
            return
        ts, profile_id = line.get("ts"), line.get("profile_id")
        if not isinstance(ts, str) or not isinstance(profile_id, str):
            return
        self.seen.add(str(line.get("key")))
        self.buyers.setdefault(profile_id, _Buyer()).orders.append((ts, order_value(body)))

    def result(self, end: datetime) -> list[CustomerSummary]:
        end_ts = end.timestamp()
        out = []
        for profile_id in sorted(self.buyers):
            orders = sorted(self.buyers[profile_id].orders)
            first, last = _epoch(orders[0][0]), _epoch(orders[-1][0])
            repeat = [value for _, value in orders[1:]]
            out.append(
                CustomerSummary(
                    customer_id=profile_id,
                    frequency=len(orders) - 1,
                    recency=round((last - first) / DAY_SECONDS, 4),
                    T=round((end_ts - first) / DAY_SECONDS, 4),
                    monetary_value=round(sum(repeat) / len(repeat), 2) if repeat else 0.0,
                )
            )
        return out


def summarize(lines: Iterable[dict[str, Any]], end: datetime) -> list[CustomerSummary]:
    builder = SummaryBuilder()
    for line in lines:
        builder.add(line)
    return builder.result(end)
