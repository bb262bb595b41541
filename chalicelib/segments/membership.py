"""Segment membership use cases: profiles-stream records become membership items and sizes; who is in a segment.

Replay safety. The profile body's `segments` list is the truth; this consumer copies it into the members table. For each
record it diffs the OLD and NEW image and applies "profile P is in / out of S" as a plain conditional write (put if
absent, delete if present), so:
- a replayed record finds the item already there (or already gone) and changes nothing;
- Lambda retries a shard from the first failed record onwards, in order, so a replayed suffix converges on the NEW
  image of the last record per profile (items may briefly show an older state while the suffix is re-applied).
Sizes are not written here: the members table's own stream moves them, once per item that appears or goes
(`segments.sizes`), so they equal the number of items whoever wrote them: this consumer, a replay re-creating and
deleting an item on the way, or an erasure (it deletes the items itself; the tombstone's exits then find them gone).
The cost is one write unit per membership change (the table has no index), paid only on an actual change; the first
entry of a segment in a container also writes (once) its registry row, which tells an erasure where to look.

The same pass keeps the compact customer population (`$customers#n` rows: recency, orders, revenue, needs group and
the RFM/percentile the profile currently carries) that the daily cut-point job reads with Queries instead of scanning
the profiles table, whose items are whole profiles (Scan is billed on item size, whatever the projection).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.profiles.codec import body_dict
from chalicelib.segments.ports import CustomerRow, SegmentStore
from chalicelib.shared.faults import is_transient
from chalicelib.shared.streams import sequence_of
from chalicelib.tracking.ports import FailedEventStore

__all__ = [
    "CustomerRow",
    "MembershipStats",
    "SegmentMembershipService",
    "SegmentStore",
    "customer_row",
    "target_segments",
]

log = logging.getLogger("one2one")


@dataclass
class MembershipStats:
    records: int = 0
    entered: int = 0
    left: int = 0
    unchanged: int = 0  # conditional writes that found the work already done (replays)
    customers_written: int = 0
    poison: int = 0
    failed_records: int = 0


def _body(image: dict[str, Any] | None) -> dict[str, Any] | None:
    if not image or "body" not in image:
        return None
    return body_dict(image)


def _gone(image: dict[str, Any] | None, body: dict[str, Any] | None) -> bool:
    """Deleted, merged away, or erased (a tombstone): a profile that is in no segment and in no population."""
    if image is None or body is None:
        return True
    return "merged_into" in image or "erased_at" in image or bool(body.get("merged_into"))


def target_segments(image: dict[str, Any] | None, body: dict[str, Any] | None) -> set[str]:
    """The memberships an image stands for: none for a deleted, merged-away or erased profile."""
    if _gone(image, body):
        return set()
    return set((body or {}).get("segments") or [])


def customer_row(image: dict[str, Any] | None, body: dict[str, Any] | None) -> CustomerRow | None:
    """The population row of a buyer (same definition as `rfm.rfm_values`); None for non-buyers and merged profiles."""
    if image is None or body is None or _gone(image, body):
        return None
    computed = body.get("computed") or {}
    activity = body.get("activity") or {}
    last_order_ts = activity.get("last_order_ts")
    first_order_ts = activity.get("first_order_ts")
    orders = int(computed.get("orders") or 0)
    if orders <= 0 or last_order_ts is None:
        return None
    rfm = body.get("rfm")
    return CustomerRow(
        profile_id=body["profile_id"],
        version=int(image["version"]["N"]) if "version" in image else int(body.get("version") or 0),
        last_order_ts=float(last_order_ts),
        orders=orders,
        revenue=float(computed.get("revenue") or 0.0),
        needs_group=body.get("needs_group"),
        rfm=f"{rfm['r']}{rfm['f']}{rfm['m']}" if rfm else None,
        percentile=body.get("group_value_percentile"),
        first_order_ts=float(first_order_ts) if first_order_ts is not None else None,
    )


class SegmentMembershipService:
    """Profiles-stream consumer: membership items, sizes and the customer population follow the profile bodies."""

    def __init__(self, store: SegmentStore, failed: FailedEventStore | None = None) -> None:
        self.store = store
        self.failed = failed
        self.last_stats = MembershipStats()

    def apply(self, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Apply a batch of profiles-stream records in order; return the sequence numbers to retry.

        On a transient failure that record and every later one are returned: Lambda resumes from the lowest reported
        sequence number anyway, and stopping keeps each profile's records applied in stream order. A record that
        fails deterministically is parked in the failed-event store and not retried.
        """
        stats = MembershipStats()
        stats.records = len(records)
        deferred: list[str] = []
        for index, record in enumerate(records):
            sequence = sequence_of(record)
            try:
                self._apply(record, stats)
            except Exception as exc:
                if is_transient(exc):
                    log.warning("segment membership deferred at %s: %s", sequence, type(exc).__name__)
                    deferred = [sequence_of(r) for r in records[index:]]
                    break
                # Deterministic (unreadable image, a bug): retrying would block the shard for 24 h. Park and go on.
                log.exception("segment membership record %s parked", sequence)
                stats.poison += 1
                if self.failed is not None:
                    reason = {"error": "segment_record_failed", "message": f"{type(exc).__name__}: {str(exc)[:300]}"}
                    self.failed.record("profiles-stream", reason, record)
        stats.failed_records = len(deferred)
        self.last_stats = stats
        return deferred

    def _apply(self, record: Mapping[str, Any], stats: MembershipStats) -> None:
        data = record.get("dynamodb") or {}
        old_image, new_image = data.get("OldImage"), data.get("NewImage")
        if (
            old_image is not None
            and new_image is not None
            and old_image.get("body") == new_image.get("body")
            and all((name in old_image) == (name in new_image) for name in ("merged_into", "erased_at"))
        ):
            return  # only top-level bookkeeping changed
        old, new = _body(old_image), _body(new_image)
        profile_id = (new or old or {}).get("profile_id") or (new_image or old_image or {})["profile_id"]["S"]
        before, after = target_segments(old_image, old), target_segments(new_image, new)
        version = int(new_image["version"]["N"]) if new_image and "version" in new_image else 0
        entered_at = (new or {}).get("updated_at") or _approximate_time(data)
        for segment_id in sorted(after - before):
            if self.store.enter(segment_id, profile_id, entered_at, version):
                stats.entered += 1
            else:
                stats.unchanged += 1
        for segment_id in sorted(before - after):
            # After an erasure the item is usually gone already: its REMOVE was counted then, nothing more to do here.
            if self.store.leave(segment_id, profile_id):
                stats.left += 1
            else:
                stats.unchanged += 1

        old_row, new_row = customer_row(old_image, old), customer_row(new_image, new)
        if new_row is not None and (old_row is None or old_row.metrics() != new_row.metrics()):
            self.store.put_customer(new_row)
            stats.customers_written += 1
        elif new_row is None and old_row is not None:
            self.store.remove_customer(profile_id)
            stats.customers_written += 1

    # -- reads for the admin API -------------------------------------------------------------------------------------
    def members(self, segment_id: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return self.store.members(segment_id, limit, cursor)

    def sizes(self) -> dict[str, int]:
        return self.store.sizes()


def _approximate_time(data: dict[str, Any]) -> str:
    from datetime import UTC, datetime

    from chalicelib.tracking.events import iso

    seconds = data.get("ApproximateCreationDateTime")
    when = datetime.fromtimestamp(float(seconds), UTC) if seconds else datetime.now(UTC)
    return iso(when)
