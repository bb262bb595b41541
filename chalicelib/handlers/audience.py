"""Audience handlers: the minute schedule that fires scheduled scenarios and launches due broadcasts, and the audience
queue's fan-out worker."""

from __future__ import annotations

import logging
from typing import Any

from chalice import Blueprint, Rate
from chalice.app import CloudWatchEvent, SQSEvent

from chalicelib.shared.settings import resource_name

bp = Blueprint(__name__)
log = logging.getLogger("one2one")


# Every minute, like the due-store reader: cron expressions are per minute, and the firer works from its cursor, so
# a late or skipped invocation still fires each scenario (its latest missed time) once.
@bp.schedule(Rate(1, unit=Rate.MINUTES), name="fire_schedules")
def fire_schedules(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_audience_fanout, get_broadcast_service

    fired = get_audience_fanout().fire_due()
    if fired:
        log.info("schedules fired: %s", ", ".join(fired))
    launched = get_broadcast_service().launch_due()
    if launched:
        log.info("broadcasts launched: %s", ", ".join(launched))
    return {"fired": len(fired), "launched": len(launched)}


@bp.on_sqs_message(queue=resource_name("AudienceQueue"), batch_size=10, name="fan_out_audience")
def fan_out_audience(event: SQSEvent) -> dict[str, Any]:
    """One page of a segment, or one chunk of members to start runs for, per record; failures are retried (then the
    DLQ keeps them), the rest deleted."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.bootstrap import get_audience_fanout
    from chalicelib.scenarios.fanout import UnreadableAudienceMessage

    service = get_audience_fanout()

    def record_handler(record: SQSRecord) -> None:
        try:
            service.handle_body(record.body)
        except UnreadableAudienceMessage as exc:
            log.error("fan-out: unreadable message dropped (%s): %.200s", exc, record.body)
        except Exception:
            log.exception("fan-out: message %.200s failed; the queue retries it, then its DLQ keeps it", record.body)
            raise

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event.to_dict(), record_handler=record_handler, processor=processor))
