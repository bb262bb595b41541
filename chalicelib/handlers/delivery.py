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
    from chalicelib.bootstrap import get_delivery_service

    return get_delivery_service().handle_queue_event(event.to_dict())


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
