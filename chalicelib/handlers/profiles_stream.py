"""Profiles-table stream handler: segment membership items and the customer population (the sizes follow from the
members table's own stream: segment_members_stream.py)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from chalice.app import DynamoDBEvent

from chalicelib.shared.streams import stream_arn

bp = Blueprint(__name__)


# A DynamoDB stream serves at most two concurrent readers per shard: this mapping and the scenario engine's.
@bp.on_dynamodb_record(
    stream_arn=stream_arn("ProfilesTable", "PROFILES_STREAM_ARN"),
    batch_size=100,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=1,
    name="update_segment_members",
)
def update_segment_members(event: DynamoDBEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_segment_membership_service
    from chalicelib.handlers.stream_batch import records_of, report_deferred

    raw = event.to_dict()
    deferred = get_segment_membership_service().apply(records_of(raw))
    return report_deferred(raw, set(deferred))
