"""Local SES event publishing: what SES's configuration set does in AWS, played for the mails moto accepted.

moto's SES records a sent mail but publishes no events, so locally nothing was ever delivered, bounced or complained
about and every delivery rate was n/a. This source (a pump source, never deployed: it lives in `local/`) watches the
app's SES client, and for each mail SES accepted publishes to the feedback topic the notifications SES would publish,
in SES's event-publishing shape (`eventType`, `mail` with the send's tags, the event body), through the same topic ->
`ses_feedback` path as in AWS. Once each: a mail is taken off the list when its notifications are published.

What each recipient gets follows the SES mailbox simulator:
- `bounce@simulator.amazonses.com`: a permanent bounce (no delivery), as SES answers it;
- `complaint@simulator.amazonses.com`: a delivery, then a complaint (the mailbox accepted it, the person complained);
- anyone else: a delivery (moto accepted it; no real mailbox is asked).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import datetime
from email.utils import parseaddr
from typing import Any

log = logging.getLogger("one2one.local")

BOUNCE_ADDRESS = "bounce@simulator.amazonses.com"
COMPLAINT_ADDRESS = "complaint@simulator.amazonses.com"
_CONTEXT_KEY = "one2one_local_ses_params"


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def ses_events(params: dict[str, Any], ses_message_id: str, at: datetime) -> list[dict[str, Any]]:
    """The SES event-publishing documents for one accepted `SendEmail` (sesv2 request parameters)."""
    destination = params.get("Destination") or {}
    addresses = [
        parseaddr(a)[1].lower()
        for key in ("ToAddresses", "CcAddresses", "BccAddresses")
        for a in destination.get(key) or []
        if parseaddr(a)[1]
    ]
    tags: dict[str, list[str]] = {t["Name"]: [t["Value"]] for t in params.get("EmailTags") or []}
    if params.get("ConfigurationSetName"):
        tags["ses:configuration-set"] = [params["ConfigurationSetName"]]
    when = _iso(at)
    mail = {
        "timestamp": when,
        "source": params.get("FromEmailAddress", ""),
        "sendingAccountId": "123456789012",
        "messageId": ses_message_id,
        "destination": addresses,
        "headersTruncated": False,
        "tags": tags,
    }
    delivered = [a for a in addresses if a != BOUNCE_ADDRESS]
    events: list[dict[str, Any]] = []
    if delivered:
        events.append(
            {
                "eventType": "Delivery",
                "mail": mail,
                "delivery": {
                    "timestamp": when,
                    "processingTimeMillis": 1,
                    "recipients": delivered,
                    "smtpResponse": "250 2.6.0 Message received (local)",
                    "reportingMTA": "local.one2one",
                },
            }
        )
    if BOUNCE_ADDRESS in addresses:
        events.append(
            {
                "eventType": "Bounce",
                "mail": mail,
                "bounce": {
                    "bounceType": "Permanent",
                    "bounceSubType": "General",
                    "bouncedRecipients": [
                        {
                            "emailAddress": BOUNCE_ADDRESS,
                            "action": "failed",
                            "status": "5.1.1",
                            "diagnosticCode": "smtp; 550 5.1.1 user unknown (SES mailbox simulator, local)",
                        }
                    ],
                    "timestamp": when,
                    "feedbackId": f"local-{uuid.uuid4()}",
                    "reportingMTA": "dsn; local.one2one",
                },
            }
        )
    if COMPLAINT_ADDRESS in addresses:
        events.append(
            {
                "eventType": "Complaint",
                "mail": mail,
                "complaint": {
                    "complainedRecipients": [{"emailAddress": COMPLAINT_ADDRESS}],
                    "timestamp": when,
                    "feedbackId": f"local-{uuid.uuid4()}",
                    "complaintFeedbackType": "abuse",
                    "userAgent": "SES mailbox simulator (local)",
                    "arrivalDate": when,
                },
            }
        )
    return events


class LocalSesEvents:
    """A pump source: records each `SendEmail` the app's SES client completes, publishes its events on `poll`."""

    kind = "ses-events"
    name = "local_ses_events"

    def __init__(self, pump: Any) -> None:
        self.pump = pump
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._watched: int | None = None
        self._topic: str | None = None

    def _watch(self) -> None:
        """Hook the app's SES client (rebuilt after a cache reset, so checked every round)."""
        from chalicelib.delivery.adapters.ses_email import _client

        ses = _client()
        if id(ses) == self._watched:
            return
        ses.meta.events.register("provide-client-params.sesv2.SendEmail", self._remember_params)
        ses.meta.events.register("after-call.sesv2.SendEmail", self._accepted)
        self._watched = id(ses)

    @staticmethod
    def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_CONTEXT_KEY] = dict(params)

    def _accepted(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context.get(_CONTEXT_KEY)
        if params is None or getattr(http_response, "status_code", 500) >= 300 or not parsed.get("MessageId"):
            return  # refused by SES: nothing was sent, SES publishes nothing
        with self._lock:
            self._pending.append({"params": params, "ses_message_id": parsed["MessageId"], "at": self.pump.now()})

    def poll(self) -> int:
        self._watch()
        with self._lock:
            sent, self._pending = self._pending, []
        if not sent:
            return 0
        topic = self._topic_arn()
        if topic is None:
            log.warning("local SES events: no feedback topic; %d mails get no events", len(sent))
            return 0
        published = 0
        for mail in sent:
            for event in ses_events(mail["params"], mail["ses_message_id"], mail["at"]):
                self.pump.client("sns").publish(TopicArn=topic, Message=json.dumps(event))
                published += 1
        return published

    def _topic_arn(self) -> str | None:
        from chalicelib.shared.settings import resource_name

        if self._topic is None:
            name = resource_name("SesFeedbackTopic")
            sns = self.pump.client("sns")
            arns = [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]]
            self._topic = next((a for a in arns if a.rsplit(":", 1)[-1] == name), None)
        return self._topic
