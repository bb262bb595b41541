"""Events-table stream handler: folds newly stored events into profiles (identity links, traits, scores, segments)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from chalice.app import DynamoDBEvent

from chalicelib.shared.streams import stream_arn

bp = Blueprint(__name__)


@bp.on_dynamodb_record(
    stream_arn=stream_arn("EventsTable", "EVENTS_STREAM_ARN"),
    batch_size=500,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=1,
    name="fold_events",
)
def fold_events(event: DynamoDBEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_fold_service
    from chalicelib.shared.observability import count
    from chalicelib.shared.runtime import tune_gc_for_batches

    service = get_fold_service()
    _ = service.config  # loaded (and validated) before the start-up heap is frozen
    tune_gc_for_batches()
    response = service.handle_stream_event(event.to_dict())
    count("EventsScored", service.last_stats.folded_events)
    return response
