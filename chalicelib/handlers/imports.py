"""Import worker: the import queue carries S3 "object created" notifications of the import bucket (start that import)
and chunk steps (count a chunk, or import its records until the deadline). See chalicelib/imports/service.py."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote_plus

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib.shared.runtime import deadline_for
from chalicelib.shared.settings import resource_name

bp = Blueprint(__name__)
log = logging.getLogger("one2one")

# A step stops starting rows this long before the Lambda is stopped: a batch of 100 rows takes well under a second,
# the report, the commit and the next message a few hundred milliseconds.
SAFETY_MARGIN_SECONDS = 20.0
# The import queue's maxReceiveCount (infra/resources.json): a step failing on its last delivery goes to the DLQ, and
# its import is then marked failed instead of showing "running" for ever.
MAX_RECEIVES = 5
DEFAULT_BUDGET_SECONDS = 60.0  # without a Lambda context (local pump, tests)


def s3_keys(body: str) -> list[str] | None:
    """The object keys of an S3 notification (None when the body is not one; [] for S3's test event)."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    if message.get("Event") == "s3:TestEvent":
        return []
    if not isinstance(message.get("Records"), list):
        return None
    return [
        unquote_plus(r["s3"]["object"]["key"])
        for r in message["Records"]
        if isinstance(r, dict) and str(r.get("eventName", "")).startswith("ObjectCreated")
    ]


# batch_size 1: each message is a step that works until its deadline (see handlers/backfill.py)
@bp.on_sqs_message(queue=resource_name("ImportQueue"), batch_size=1, name="import_files")
def import_files(event: SQSEvent) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.bootstrap import get_import_service
    from chalicelib.imports import ImportRefused, decode_task

    service = get_import_service()
    deadline = deadline_for(
        getattr(event, "context", None), default_budget=DEFAULT_BUDGET_SECONDS, margin=SAFETY_MARGIN_SECONDS
    )

    def step(record: SQSRecord) -> None:
        keys = s3_keys(record.body)
        if keys is not None:
            for key in keys:
                try:
                    job, created = service.start(key)
                    log.info("import %s from s3 key %s (%s)", job.import_id, key, "new" if created else "known")
                except ImportRefused as exc:
                    # A file that cannot be imported at all stays in the bucket; retrying would not change it.
                    log.warning("import of s3 key %.300s refused: %s", key, exc.to_dict())
            return
        task = decode_task(record.body)
        try:
            report = service.run(task, deadline)
        except Exception as exc:
            log.exception("import: step %.200s failed; the queue retries it, then its DLQ keeps it", record.body)
            receives = int(record.attributes.approximate_receive_count or 1)
            if receives >= MAX_RECEIVES:
                service.fail(task.import_id, "step_failed", f"a step failed {receives} times ({type(exc).__name__})")
            raise
        log.info("import step %.200s: %s", record.body, report.as_dict())

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event.to_dict(), record_handler=step, processor=processor))
