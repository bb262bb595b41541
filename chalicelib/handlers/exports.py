"""Export worker: one step of one segment export's chain per message (see chalicelib/exports/service.py)."""

from __future__ import annotations

import logging
from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib.shared.runtime import deadline_for
from chalicelib.shared.settings import resource_name

bp = Blueprint(__name__)
log = logging.getLogger("one2one")

# A step stops starting member pages this long before the Lambda is stopped: a page of 1,000 members (10
# BatchGetItem calls) takes about a second, the part upload of 8 MB and the commit a few more.
SAFETY_MARGIN_SECONDS = 30.0
DEFAULT_BUDGET_SECONDS = 60.0  # without a Lambda context (local pump, tests)
MAX_RECEIVES = 5  # ExportQueue's maxReceiveCount: a step failing on its last delivery fails its export


# batch_size 1: a step is sequential work on one chain (one segment's Query partition is read in order).
@bp.on_sqs_message(queue=resource_name("ExportQueue"), batch_size=1, name="export_segments")
def export_segments(event: SQSEvent) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.bootstrap import get_export_service
    from chalicelib.exports import ExportNotReady, decode_task

    service = get_export_service()
    deadline = deadline_for(
        getattr(event, "context", None), default_budget=DEFAULT_BUDGET_SECONDS, margin=SAFETY_MARGIN_SECONDS
    )

    def step(record: SQSRecord) -> None:
        task = decode_task(record.body)
        try:
            outcome = service.run(task, deadline)
        except ExportNotReady as exc:
            log.info("export: %s; delivered again later", exc)
            raise
        except Exception as exc:
            log.exception("export: step %.200s failed; the queue retries it, then its DLQ keeps it", record.body)
            receives = int(record.attributes.approximate_receive_count or 1)
            if receives >= MAX_RECEIVES:
                service.fail(task.export_id, f"a step failed {receives} times ({type(exc).__name__})")
            raise
        log.info("export step %.200s: %s", record.body, outcome)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event.to_dict(), record_handler=step, processor=processor))
