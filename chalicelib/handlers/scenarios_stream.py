"""Profiles-table stream handler: starts scenario runs on triggers and exits runs whose exit condition is met."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from chalice.app import DynamoDBEvent

from chalicelib.shared.streams import stream_arn

bp = Blueprint(__name__)


# The second (and last allowed) reader of the profiles stream, beside `update_segment_members`. A small batching
# window: the cart reminder does not care, but welcome emails and sales alerts should leave within a second or two.
@bp.on_dynamodb_record(
    stream_arn=stream_arn("ProfilesTable", "PROFILES_STREAM_ARN"),
    batch_size=100,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=0,
    name="run_scenarios",
)
def run_scenarios(event: DynamoDBEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_scenario_service
    from chalicelib.handlers.stream_batch import records_of, report_deferred

    raw = event.to_dict()
    deferred = get_scenario_service().process_records(records_of(raw))
    return report_deferred(raw, set(deferred))
