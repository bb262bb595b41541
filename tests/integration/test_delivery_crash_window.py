"""The crash window (after `sending` is recorded, before the provider answers): never twice, never silently lost."""

from __future__ import annotations

import json

import pytest

from tests.integration.scenario_support import (
    World,
    user_in,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

CART = "cart_abandonment"


class Crash(BaseException):
    """Stands for the Lambda being killed mid-call (not an Exception: nothing in the app may catch it)."""


def test_a_crash_after_the_sending_record_is_not_resent_but_reported_as_unknown(world: World, monkeypatch) -> None:
    from chalicelib.bootstrap import get_delivery_service

    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="crash@example.com")
    world.add_to_cart(user)
    world.drain()
    world.advance(hours=1, minutes=1)
    service = get_delivery_service()
    real_send = service.email.send

    def crash(email):
        raise Crash

    # GIVEN the process dies inside the SES call, after the `sending` record was written
    monkeypatch.setattr(service.email, "send", crash)
    with pytest.raises(Crash):
        service.release_due()
        world.h.pump.pump_once()
    monkeypatch.setattr(service.email, "send", real_send)
    # WHEN the queue redelivers the step (its visibility timeout ran out)
    profile_id = user_profile_id(user)
    [run] = world.runs(profile_id)
    body = json.dumps({"p": profile_id, "t": run["trigger_id"], "s": run["step_index"]})
    assert world.h.app.handler_map["deliver_steps"]({"Records": [{"messageId": "again", "body": body}]}, None) == {
        "batchItemFailures": []
    }
    # THEN nothing is resent: the record stays `sending` and the run moved on to its next wait
    [record] = world.messages(profile_id)
    assert record["status"] == "sending" and world.outbox() == []
    [run] = world.runs(profile_id)
    assert run["status"] == "active" and run["step_index"] == 3
    # WHEN the sweep runs after the stuck threshold
    world.advance(minutes=11)
    world.drain()
    listed = world.h.json(world.h.admin("/admin/messages/unknown"))["messages"]
    # THEN it is `unknown`, listed for an operator, still not resent
    assert [m["message_id"] for m in listed] == [record["message_id"]]
    assert world.messages(profile_id)[0]["status"] == "unknown" and world.outbox() == []
    # WHEN the operator checked SES and retries it
    body = {"profile_id": profile_id, "trigger_id": record["trigger_id"], "step_index": record["step_index"]}
    response = world.h.client.http.post(
        "/admin/messages/retry",
        body=json.dumps(body),
        headers={"Authorization": "Bearer test-admin-token", "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.body
    world.drain()
    # THEN it is sent exactly once
    assert len(world.outbox()) == 1
    assert world.messages(profile_id)[0]["status"] == "sent"


def test_a_throttled_send_is_retried_because_the_provider_said_nothing_was_sent(world: World, monkeypatch) -> None:
    from chalicelib.bootstrap import get_delivery_service
    from chalicelib.delivery.ports import ProviderRejected

    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="throttled@example.com")
    world.add_to_cart(user)
    world.drain()
    world.advance(hours=1, minutes=1)
    service = get_delivery_service()
    real_send, calls = service.email.send, []

    def throttled_once(email):
        calls.append(email.message_id)
        if len(calls) == 1:
            raise ProviderRejected("TooManyRequestsException", "slow down", retryable=True)
        return real_send(email)

    monkeypatch.setattr(service.email, "send", throttled_once)
    world.drain()
    # THEN the second attempt sent it, once, and the record shows the retry
    assert len(calls) == 2 and len(world.outbox()) == 1
    [record] = world.messages(user_profile_id(user))
    assert [h["status"] for h in record["history"]] == ["sending", "retry", "sending", "sent"]
