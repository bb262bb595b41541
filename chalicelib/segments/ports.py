"""Segment ports: what the membership use case needs from storage (members, sizes, the customer population)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chalicelib.segments.sizes import SizeDeltas


@dataclass(frozen=True)
class CustomerRow:
    """One buyer as the cut-point job needs them. `rfm` is "RFM" digits (e.g. "534") as stored on the profile."""

    profile_id: str
    version: int
    last_order_ts: float
    orders: int
    revenue: float
    needs_group: str | None = None
    rfm: str | None = None
    percentile: float | None = None
    first_order_ts: float | None = None  # the CLV models need the customer's age; None in rows written before it

    def metrics(self) -> tuple[Any, ...]:
        """Everything but the version: a new profile version that changed none of this needs no write."""
        return (
            self.last_order_ts,
            self.orders,
            self.revenue,
            self.needs_group,
            self.rfm,
            self.percentile,
            self.first_order_ts,
        )


class SegmentStore(Protocol):
    """Membership items, segment sizes and the customer population.

    A write that finds its work already done reports False and changes nothing: a replayed stream record is a no-op.
    Sizes are not written here: they follow the items (`SegmentSizeCounter`, fed by the items' own changes).
    """

    def enter(self, segment_id: str, profile_id: str, entered_at: str, version: int) -> bool:
        """Add a member. False when it was already a member (nothing changed)."""
        ...

    def leave(self, segment_id: str, profile_id: str) -> bool:
        """Remove a member. False when it was not a member (never, already left, or deleted by an erasure)."""
        ...

    def sizes(self) -> dict[str, int]:
        """Segment id -> member count, as counted so far from the items' changes (seconds behind them). A segment
        that never had a member is absent; one emptied since shows 0."""
        ...

    def member_partitions(self) -> list[str]:
        """Every `segment_id` a member item of anyone may be stored under: each segment that ever had a member (left
        or emptied since, disabled or no longer defined: its items may remain), then the population partitions. An
        erasure looks up a person's memberships by key in each, so none may be missing: a segment is listed from
        before its first member is written, not once the members stream has been counted."""
        ...

    def members(
        self, segment_id: str, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of members (`profile_id`, `entered_at`, `version`) in profile id order, and the cursor of the
        next page (None at the end). ValueError for a cursor we did not issue."""
        ...

    def put_customer(self, row: CustomerRow) -> None:
        """Insert or replace a buyer's population row."""
        ...

    def remove_customer(self, profile_id: str) -> None:
        """Drop a profile from the population (no error when absent)."""
        ...

    def customers(self) -> Iterator[CustomerRow]:
        """Every population row, in no particular order."""
        ...


class SegmentSizeCounter(Protocol):
    """The segment size counters, moved by the members' own changes (`segments.sizes`: why exactly once)."""

    def add_batch(self, batch: SizeDeltas, now: datetime) -> str | None:
        """Add one batch's deltas once: its marker and one ADD per segment, together.

        Returns None when counted (or nothing to count), else the last sequence already counted under this batch's
        marker (a re-delivery): the caller counts the records after it under their own marker."""
        ...
