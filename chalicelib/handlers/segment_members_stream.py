"""Segment-members-table stream handler: segment sizes, moved once per membership item that appears or goes."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from chalice.app import DynamoDBEvent

from chalicelib.shared.streams import stream_arn

bp = Blueprint(__name__)


# KEYS_ONLY records (segment and profile id) are small: a large batch is one transaction for many changes. The window
# keeps sizes within a couple of seconds of the items.
@bp.on_dynamodb_record(
    stream_arn=stream_arn("SegmentMembersTable", "SEGMENT_MEMBERS_STREAM_ARN"),
    batch_size=1000,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=1,
    name="count_segment_sizes",
)
def count_segment_sizes(event: DynamoDBEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_segment_size_service
    from chalicelib.handlers.stream_batch import records_of, report_deferred

    raw = event.to_dict()
    deferred = get_segment_size_service().count(records_of(raw))
    return report_deferred(raw, set(deferred))
