"""The local outbox's view of one SNS platform-endpoint publish."""

from __future__ import annotations

from chalicelib.delivery.adapters.moto_outbox import push_entry
from chalicelib.delivery.push import RenderedPush, sns_message

ARN = "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/one2one-push/5b0e"


def test_a_push_publish_is_listed_with_its_platform_payload_and_title() -> None:
    message = sns_message(RenderedPush(title="Back in stock", body="The shirt is back"), "m1", "GCM")
    entry = push_entry("sns-1", ARN, "tok:APA91b", message)
    assert entry["kind"] == "push" and entry["platform"] == "GCM" and entry["subject"] == "Back in stock"
    assert entry["text"] == "The shirt is back"
    assert entry["payload"]["fcmV1Message"]["message"]["data"]["one2one_message_id"] == "m1"


def test_a_plain_message_is_listed_without_a_payload() -> None:
    entry = push_entry("sns-2", ARN, "tok", "hello")
    assert entry["payload"] is None and entry["text"] == "hello"
