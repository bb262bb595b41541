"""Backfill worker: one step of one scan segment's chain per message (see chalicelib/profiles/backfill.py)."""

from __future__ import annotations

import logging
from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib.shared.runtime import deadline_for
from chalicelib.shared.settings import resource_name

bp = Blueprint(__name__)
log = logging.getLogger("one2one")

# A step stops starting Scan pages this long before the Lambda would be stopped: a page of 100 refolds takes well
# under a second, the commit and the next message a few hundred milliseconds, so 15 s leaves room for a slow page.
SAFETY_MARGIN_SECONDS = 15.0
DEFAULT_BUDGET_SECONDS = 45.0  # without a Lambda context


# batch_size 1: each message is a chain step that works until the deadline, so a second message in the same
# invocation would only wait; the queue's concurrency is then the job's parallelism.
@bp.on_sqs_message(queue=resource_name("BackfillQueue"), batch_size=1, name="backfill_profiles")
def backfill_profiles(event: SQSEvent) -> dict[str, Any]:
    """A failed step is reported back to the queue (delivered again, then its DLQ keeps it); the step re-does its
    pages from its cursor, which counts nothing twice."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.bootstrap import get_backfill_service
    from chalicelib.profiles.backfill import BackfillNotReady, decode_task

    service = get_backfill_service()
    deadline = deadline_for(
        getattr(event, "context", None), default_budget=DEFAULT_BUDGET_SECONDS, margin=SAFETY_MARGIN_SECONDS
    )

    def step(record: SQSRecord) -> None:
        try:
            report = service.run(decode_task(record.body), deadline)
        except BackfillNotReady as exc:
            log.info("backfill: %s; delivered again later", exc)
            raise
        except Exception:
            log.exception("backfill: step %.200s failed; the queue retries it, then its DLQ keeps it", record.body)
            raise
        log.info("backfill step %.200s: %s", record.body, report.as_dict())

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event.to_dict(), record_handler=step, processor=processor))
