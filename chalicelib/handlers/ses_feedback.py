"""SES feedback: the configuration set's event destination publishes to `SesFeedbackTopic`; one record per call."""

from __future__ import annotations

import logging
from typing import Any

from chalice import Blueprint
from chalice.app import SNSEvent

from chalicelib.shared.settings import resource_name

bp = Blueprint(__name__)
log = logging.getLogger("one2one")


@bp.on_sns_message(topic=resource_name("SesFeedbackTopic"), name="ses_feedback")
def ses_feedback(event: SNSEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_engagement_service, get_message_store

    service, suppress = get_engagement_service(), get_message_store().suppress
    # Malformed or foreign records are logged, counted and dropped inside (retrying cannot fix them); a storage error
    # raises, so SNS retries the notification and the notification-id dedupe keeps the retry from counting twice.
    results = [service.handle_feedback(record, suppress) for record in event.to_dict().get("Records") or []]
    return {"results": results}
