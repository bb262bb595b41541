"""SMS and internal alerts through SNS: `publish(PhoneNumber=...)` for texts, topic publishes for sales alerts."""

from __future__ import annotations

from functools import cache
from typing import Any

from chalicelib.delivery.adapters.provider_call import provider_call
from chalicelib.delivery.ports import ProviderRejected

RETRYABLE_CODES = {"Throttling", "ThrottledException", "InternalError", "KMSThrottling", "ServiceUnavailable"}


@cache
def _client() -> Any:
    """Retries OFF for the same reason as SES: an SMS publish has no idempotency key."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2, read_timeout=10)
    return boto3.session.Session().client("sns", config=config)


def reset_client() -> None:
    _client.cache_clear()


class SnsNotifier:
    """`topics` maps a scenario's logical topic name (e.g. `sales`) to a topic ARN (or a resolver returning one)."""

    def __init__(self, topics: dict[str, Any]) -> None:
        self.topics = topics

    def _call(self, **kwargs: Any) -> str:

        return provider_call(_client().publish, RETRYABLE_CODES, **kwargs)

    def send_sms(self, phone: str, text: str, message_id: str, *, transactional: bool = False) -> str:
        """`transactional`: a code or receipt the person asked for (SNS delivers Transactional with higher
        reliability, at a higher price); scenario texts are Promotional."""
        kind = "Transactional" if transactional else "Promotional"
        return self._call(
            PhoneNumber=phone,
            Message=text,
            MessageAttributes={
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": kind},
                "one2one.message_id": {"DataType": "String", "StringValue": message_id},
            },
        )

    def publish(self, topic: str, subject: str, text: str, attributes: dict[str, str]) -> str:
        target = self.topics.get(topic)
        arn = target() if callable(target) else target
        if not arn:
            raise ProviderRejected("UnknownTopic", f"no SNS topic configured for {topic!r}", retryable=False)
        return self._call(
            TopicArn=arn,
            Subject=subject[:100] or "one2one",  # SNS subjects: at most 100 characters
            Message=text,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v},
        )


def topic_arn_by_name(name: str) -> str | None:
    """Find a topic's ARN by name (deployments pass SALES_ALERTS_TOPIC_ARN instead; this is the local fallback)."""
    from chalicelib.shared.aws import client

    for page in client("sns").get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return str(topic["TopicArn"])
    return None
