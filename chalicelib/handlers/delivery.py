"""Delivery handlers: the step queue consumer, the minute due-store reader and the stuck-send sweep."""

from __future__ import annotations

import logging
from typing import Any

from chalice import Blueprint, Rate
from chalice.app import CloudWatchEvent, SQSEvent

from chalicelib.shared.settings import resource_name

bp = Blueprint(__name__)
log = logging.getLogger("one2one")


@bp.on_sqs_message(queue=resource_name("DeliveryQueue"), batch_size=10, name="deliver_steps")
def deliver_steps(event: SQSEvent) -> dict[str, Any]:
    """One step per record; a throttled or failed step is reported back to the queue (retried, then its DLQ keeps
    it), the others are deleted."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.bootstrap import get_delivery_service
    from chalicelib.delivery.exceptions import RetryLater

    service = get_delivery_service()
    service.start_batch()

    def step(record: SQSRecord) -> None:
        try:
            service.execute_step(record.body)
        except RetryLater as exc:
            log.warning("delivery: step %.200s will be retried: %s", record.body, exc)
            raise
        except Exception:
            log.exception("delivery: step %.200s failed; the queue retries it, then its DLQ keeps it", record.body)
            raise

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event.to_dict(), record_handler=step, processor=processor))


# Every minute: waits cost one item in the due store and no compute until they come due; this reads only the hour
# buckets between its cursor and now, so a quiet minute costs one Query.
@bp.schedule(Rate(1, unit=Rate.MINUTES), name="release_due_steps")
def release_due_steps(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_delivery_service

    released = get_delivery_service().release_due()
    if released:
        log.info("due steps released: %d", released)
    return {"released": released}


@bp.schedule(Rate(5, unit=Rate.MINUTES), name="sweep_stuck_messages")
def sweep_stuck_messages(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_delivery_service

    unknown = get_delivery_service().sweep_stuck()
    if unknown:
        log.error("ALERT %d messages with unknown outcome await an operator decision", len(unknown))
    return {"unknown": len(unknown)}
