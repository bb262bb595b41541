"""Fault injection on mobile push: with a tenth of the app's DynamoDB and SQS calls failing and a tenth of its SNS
publishes to platform endpoints failing (before the request, or after SNS accepted it: the response lost), no device
gets a message twice and every person's push has one record in a definite state.

The crash window for push is the same as for email (delivery/steps.py): the record is `sending` before the first
Publish; a retried step finds it and sends nothing; a lost response leaves it `unknown`, listed and never resent.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from tests.faults import FaultInjector, ProviderFaults
from tests.integration.scenario_support import (
    World,
    user_in,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)
from tests.integration.test_fault_injection_delivery import redrive_delivery_dlq, send_until_accepted
from tests.integration.test_push import SCENARIO, define_push_scenario, endpoints

PEOPLE = 40
RATE = 0.10


def publish_faults(rate: float, seed: int) -> ProviderFaults:
    """`rate` of the app's SNS Publish calls to platform endpoints failed; `lost` names the endpoint ARNs. Publishes to
    topics (alerts) are left alone."""
    from chalicelib.delivery.adapters.sns_push import _client

    return ProviderFaults(
        rate,
        seed,
        client=_client,
        operation="sns.Publish",
        target=lambda params: params.get("TargetArn") or None,
        throttle=("Throttling", 400),
        internal=("InternalError", 500),
    )


def _tokens(n: int) -> tuple[str, str]:
    return f"{n:064x}", f"f{n:03d}:APA91b" + "K" * 140


@pytest.mark.slow
def test_ten_percent_faults_never_push_twice_to_a_device_nor_lose_a_message(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    started = time.perf_counter()
    define_push_scenario(world)
    users = [user_in(SCENARIO, 0, holdout=False, prefix=f"fp{n}") for n in range(PEOPLE)]
    for n, user in enumerate(users):
        world.customer(user, subscribe=False)
        ios, android = _tokens(n)
        for token, platform in ((ios, "ios"), (android, "android")):
            registration = {"userId": user, "token": token, "platform": platform, "enabled": True}
            assert world.h.post("/v1/devices", registration).status_code == 200
    world.drain()
    world.h.pump.max_retries = 200
    answers: list[int] = []
    # WHEN every person leaves a cart (an immediate push to both devices) under faults, and everything is pumped
    with FaultInjector(rate=RATE, seed=31, services=("dynamodb", "sqs")) as aws, publish_faults(RATE, seed=7) as sns:
        for n, user in enumerate(users):
            product = {"product_id": "sku-1", "name": "Linen Shirt", "price": 4900, "quantity": 1}
            body = {"userId": user, "event": "Product Added", "properties": product}
            send_until_accepted(world, "/v1/track", body, answers)
            if n % 10 == 9:
                world.h.pump.drain(max_rounds=500)
        world.h.pump.drain(max_rounds=500)
    redriven = redrive_delivery_dlq()
    world.h.pump.drain(max_rounds=500)
    world.advance(minutes=11)
    from chalicelib.bootstrap import get_delivery_service

    listed_unknown = {r["message_id"] for r in get_delivery_service().sweep_stuck()}

    # THEN faults happened on publishes, before and after SNS accepted them
    assert sns.by_kind["lost_response"] > 0 and sum(sns.by_kind.values()) > sns.by_kind["lost_response"]
    assert aws.stats.injected > 20 and world.h.pump.dead_letters == []
    # AND no device got any message twice
    per_device_message = Counter()
    for token, endpoint in endpoints().items():
        for raw in endpoint.messages.values():
            outer = json.loads(raw)
            payload = json.loads(outer.get("APNS") or outer.get("GCM"))
            data = payload.get("fcmV1Message", {}).get("message", {}).get("data", payload)
            per_device_message[(token, data["one2one_message_id"])] += 1
    duplicates = sum(count - 1 for count in per_device_message.values() if count > 1)
    assert duplicates == 0, per_device_message.most_common(3)
    # AND each person has one push record, in a definite state; sent ones reached at least one device
    statuses: Counter[str] = Counter()
    for user in users:
        [record] = [m for m in world.messages(user_profile_id(user)) if m.get("channel") == "push"]
        statuses[f"{record['status']}:{record.get('reason') or ''}"] += 1
        reached = sum(1 for (_, message_id) in per_device_message if message_id == record["message_id"])
        assert record["status"] in {"sent", "unknown", "failed", "retry"}, record
        if record["status"] == "sent":
            assert reached >= 1 and record["provider_id"], record
        if record["status"] == "unknown":
            assert record["message_id"] in listed_unknown
        if record["status"] in ("failed", "retry"):
            assert reached == 0, record
    print(
        f"\npush fault injection: people {PEOPLE} x 2 devices; sns publish faults {dict(sns.by_kind)} of "
        f"{sns.calls}; dynamodb/sqs faults {aws.stats.injected} of {aws.stats.calls}; records {dict(statuses)}; "
        f"publishes {sum(per_device_message.values())}; duplicates {duplicates}; redriven {redriven}; "
        f"{time.perf_counter() - started:.1f}s"
    )
