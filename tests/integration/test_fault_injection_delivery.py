"""Fault injection on delivery: with a tenth of the app's DynamoDB, SQS and SES calls failing, no welcome email is sent
twice and every person's welcome message ends in a definite, recorded state.

The app's DynamoDB and SQS clients (`shared.aws.client`) are hooked by `tests.faults.FaultInjector` above botocore's
retries (the app sees every fault). SES goes through its own client (`ses_email._client()`, retries off), so it is
hooked here, at two stages of `SendEmail`:

- before the request (`before-call`): throttling or a 500 (SES has nothing; the app records `retry` and the queue
  retries the step), or a timeout (the app cannot know: `unknown`, never resent);
- after SES accepted the message (`after-call`): the response is lost to a read timeout. That is the crash window: the
  email IS in the outbox, and the record must say `unknown` (or `sending`, turned into `unknown` by the sweep) and the
  email must never be sent a second time.

A DynamoDB fault on the `sent` write after SES accepted is retried in place a few times; only when every retry fails
is it the same window seen from the other side: the record stays `sending`, the retried step finds it and sends
nothing, and the sweep reports it as `unknown`. A step whose every receive failed is parked in the delivery DLQ and
completed once an operator redrives it.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.faults import FaultInjector, ProviderFaults
from tests.integration.scenario_support import (
    World,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

PEOPLE = 100
RATE = 0.10
WAVE = 10
MAX_CLIENT_ATTEMPTS = 40


def ses_faults(rate: float, seed: int) -> ProviderFaults:
    """`rate` of the app's SES `SendEmail` calls failed; `lost` names our message ids (the `message_id` email tag)."""
    from chalicelib.delivery.adapters.ses_email import _client

    def message_id(params: dict[str, Any]) -> str:
        return {t["Name"]: t["Value"] for t in params.get("EmailTags", [])}.get("message_id", "?")

    return ProviderFaults(
        rate,
        seed,
        client=_client,
        operation="sesv2.SendEmail",
        target=message_id,
        throttle=("TooManyRequestsException", 429),
        internal=("InternalFailure", 500),
    )


def redrive_delivery_dlq() -> int:
    """What an operator does with the console's "Start DLQ redrive": move the parked steps back to the queue."""
    import boto3

    sqs = boto3.client("sqs")
    dlq = sqs.get_queue_url(QueueName="one2one-delivery-dlq")["QueueUrl"]
    queue = sqs.get_queue_url(QueueName="one2one-delivery")["QueueUrl"]
    moved = 0
    while messages := sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.send_message(QueueUrl=queue, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved


def send_until_accepted(world: World, path: str, body: dict[str, Any], answers: list[int]) -> None:
    for _ in range(MAX_CLIENT_ATTEMPTS):
        response = world.h.post(path, body)
        answers.append(response.status_code)
        if response.status_code == 200:
            return
        assert response.status_code == 503, response.body
    raise AssertionError(f"{path} never accepted after {MAX_CLIENT_ATTEMPTS} attempts")


def sign_up(world: World, n: int, answers: list[int]) -> None:
    user = f"signup-{n}"
    identify = {"userId": user, "traits": {"firstName": f"P{n}", "email": f"p{n}@example.com"}}
    send_until_accepted(world, "/v1/identify", identify, answers)
    send_until_accepted(world, "/v1/track", {"userId": user, "event": "Email Subscribed"}, answers)
    send_until_accepted(world, "/v1/track", {"userId": user, "event": "Signed Up"}, answers)


@pytest.mark.slow
def test_ten_percent_faults_on_dynamodb_sqs_and_ses_never_send_a_welcome_twice_nor_lose_one(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    started = time.perf_counter()
    # GIVEN an app whose DynamoDB, SQS and SES calls fail 10% of the time (seeded), the pump's clients healthy,
    # and a pump that retries like Lambda until the records succeed
    world.h.pump.max_retries = 200
    answers: list[int] = []
    with FaultInjector(rate=RATE, seed=23, services=("dynamodb", "sqs")) as aws, ses_faults(rate=RATE, seed=5) as ses:
        # WHEN 100 people sign up with email consent (welcome_series: an immediate send) and everything is pumped
        for n in range(PEOPLE):
            sign_up(world, n, answers)
            if n % WAVE == WAVE - 1:  # sign-ups arrive in waves, as Lambda polls: keeps moto's queues short
                world.h.pump.drain(max_rounds=500)
        world.h.pump.drain(max_rounds=500)
    # AND, after the faults, an operator redrives the delivery DLQ (steps that failed on every one of the queue's
    # receives are parked there, not lost) and the stuck-message sweep runs (`sending` over 10 minutes -> `unknown`)
    redriven = redrive_delivery_dlq()
    world.h.pump.drain(max_rounds=500)
    world.advance(minutes=11)
    from chalicelib.bootstrap import get_delivery_service

    listed_unknown = {r["message_id"] for r in get_delivery_service().sweep_stuck()}

    # THEN faults really happened on every service, at both SES stages
    assert aws.stats.injected > 100, aws.stats
    ddb_faults = sum(v for k, v in aws.stats.by_operation.items() if k.startswith("dynamodb."))
    sqs_faults = sum(v for k, v in aws.stats.by_operation.items() if k.startswith("sqs."))
    assert ddb_faults > 50 and sqs_faults > 0, aws.stats.by_operation
    assert ses.by_kind["lost_response"] > 0 and sum(ses.by_kind.values()) > ses.by_kind["lost_response"]
    assert world.h.pump.dead_letters == []

    # AND no email went out twice
    outbox = world.outbox()
    per_message = Counter(str(m["headers"]["X-One2One-Message-Id"]) for m in outbox)
    per_recipient = Counter(
        f"p{n}@example.com" for n in range(PEOPLE) for m in outbox if f"p{n}@example.com" in m["to"]
    )
    assert max(per_recipient.values(), default=0) <= 1, per_recipient.most_common(3)
    assert max(per_message.values(), default=0) <= 1

    # AND every person's welcome message has exactly one record, in a definite state with a reason when not sent
    records = {}
    for n in range(PEOPLE):
        welcome = [m for m in world.messages(user_profile_id(f"signup-{n}")) if m["scenario_id"] == "welcome_series"]
        assert len(welcome) == 1, (n, welcome)
        records[n] = welcome[0]
    statuses = Counter(r["status"] for r in records.values())
    assert set(statuses) <= {"sent", "unknown", "failed", "retry"}, statuses  # no `sending` left after the sweep
    for n, record in records.items():
        address = f"p{n}@example.com"
        if record["status"] == "sent":
            assert per_recipient[address] == 1 and record["provider_id"], (n, record)
        else:
            assert record.get("reason"), (n, record)
        if record["status"] == "unknown":
            assert record["message_id"] in listed_unknown  # listed for the operator, not silently lost
        if record["status"] in ("failed", "retry"):
            assert per_recipient[address] == 0, (n, record)  # the provider refused: nothing went out
    # AND the crash window: every send SES accepted but whose answer was lost is `unknown`, in the outbox once
    by_message_id = {r["message_id"]: r for r in records.values()}
    for message_id in ses.lost:
        assert by_message_id[message_id]["status"] == "unknown", by_message_id[message_id]
        assert per_message[message_id] == 1
    # AND the outbox is exactly the `sent` records plus the `unknown` ones SES did accept (the crash window)
    unknown_delivered = [r for r in records.values() if r["status"] == "unknown" and per_message[r["message_id"]]]
    assert len(outbox) == statuses["sent"] + len(unknown_delivered)
    assert len(unknown_delivered) >= len(set(ses.lost))

    reasons = Counter(f"{r['status']}:{r.get('reason')}" for r in records.values() if r["status"] != "sent")
    elapsed = time.perf_counter() - started
    print(
        f"\npeople {PEOPLE}; faults: dynamodb {ddb_faults}, sqs {sqs_faults} of {aws.stats.calls} calls "
        f"{dict(aws.stats.by_kind)}; ses {sum(ses.by_kind.values())}/{ses.calls} {dict(ses.by_kind)}; "
        f"client answers {answers.count(200)} x 200, {answers.count(503)} x 503; outbox {len(outbox)}; "
        f"records {dict(statuses)} by reason {dict(reasons)}; "
        f"unknown delivered {len(unknown_delivered)} (lost responses {len(ses.lost)}); "
        f"steps redriven from the DLQ {redriven}; pump rounds {world.h.pump.rounds}; {elapsed:.1f}s"
    )
