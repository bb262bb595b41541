"""Catalog handlers: the catalog stream (changes that fire catalog scenarios) and the paced fan-out queue."""

from __future__ import annotations

import json
import logging
from typing import Any

from chalice import Blueprint
from chalice.app import DynamoDBEvent, SQSEvent

from chalicelib.shared.settings import resource_name
from chalicelib.shared.streams import stream_arn

bp = Blueprint(__name__)
log = logging.getLogger("one2one")


# Only catalog writes reach this stream (the interest index lives in the StateTable), so it is quiet unless the shop
# changes products; a change becomes fan-out jobs, never sends, so a replayed batch only repeats idempotent jobs.
@bp.on_dynamodb_record(
    stream_arn=stream_arn("CatalogTable", "CATALOG_STREAM_ARN"),
    batch_size=100,
    starting_position="TRIM_HORIZON",
    name="catalog_changes",
)
def catalog_changes(event: DynamoDBEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_catalog_trigger_service, get_recommendation_service
    from chalicelib.catalog.changes import from_stream_record, stock_flips
    from chalicelib.handlers.stream_batch import records_of

    records = records_of(event.to_dict())
    # Stock first: a product sold out leaves recommendations even when no catalog scenario is enabled.
    flips = stock_flips(c for r in records if (c := from_stream_record(r)) is not None)
    if flips:
        get_recommendation_service().catalog_stock(flips)
    jobs = get_catalog_trigger_service().on_changes(records)
    log.info("catalog changes: %d fan-out job(s), %d stock change(s)", jobs, len(flips))
    return {"batchItemFailures": []}


# One page of interested people per message (batch of 1): a page is ~100 runs, well inside the timeout, and a failed
# page is retried alone (runs are keyed by person and change, so the retry starts nothing twice).
@bp.on_sqs_message(queue=resource_name("CatalogFanoutQueue"), batch_size=1, name="catalog_fanout")
def catalog_fanout(event: SQSEvent) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.bootstrap import get_catalog_trigger_service

    service = get_catalog_trigger_service()

    def page(record: SQSRecord) -> None:
        try:
            job = json.loads(record.body)
        except ValueError:
            log.error("catalog fan-out: unreadable message dropped: %.200s", record.body)
            return
        stats = service.fan_out(job)
        log.info("catalog fan-out %s: %s", job.get("t"), stats)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event.to_dict(), record_handler=page, processor=processor))
