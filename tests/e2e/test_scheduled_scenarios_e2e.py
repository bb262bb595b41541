"""A scheduled scenario on the local stack: HTTP tracking puts people in a segment, the local clock passes the cron
time, the pump's minute schedule fires it, the audience queue fans it out and each member gets one mail."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from local.provision import make_client
from local.stack import Stack, start_stack
from tests.e2e.test_local_stack import _basic, call, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scheduled_stack() -> Iterator[tuple[Stack, Any]]:
    """A stack whose only scenario fires daily at the UTC minute two hours from now (on the stack's clock)."""
    from chalicelib import bootstrap
    from chalicelib.scenarios.definitions import Scenario
    from chalicelib.shared.clock import get_clock

    running = start_stack(port=0, pump_interval=0.02)
    # moto's state is per process: a stack of another module may have moved its clock (and so the firer's cursor)
    # days ahead. Start from a fresh deployment's state: no cursor.
    make_client("dynamodb", running.moto_url).delete_item(
        TableName="one2one-state", Key={"pk": {"S": "schedule"}, "sk": {"S": "cursor"}}
    )
    fire = (get_clock().now() + timedelta(hours=2, minutes=1)).replace(second=0, microsecond=0)
    scenario = Scenario.model_validate(
        {
            "id": "e2e_digest",
            "name": "E2E digest",
            "who": {"segment": "cart_abandoners"},
            "when": {"type": "schedule", "cron": f"{fire.minute} {fire.hour} * * *"},
            "steps": [{"type": "send", "id": "digest", "channel": "email", "template": "dormant_we_miss_you"}],
            "reentry": "always",
        }
    )
    saved = bootstrap.get_scenarios
    bootstrap.get_scenarios = lambda: [scenario]  # type: ignore[assignment]
    bootstrap.reset()
    try:
        yield running, fire
    finally:
        bootstrap.get_scenarios = saved  # type: ignore[assignment]
        running.stop()


@pytest.fixture(autouse=True)
def _stack_env(scheduled_stack: tuple[Stack, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", scheduled_stack[0].moto_url)


def _noon_zone(fire: Any) -> str:
    """A fixed-offset zone where the fire time is midday, so quiet hours never defer the mail."""
    offset = (12 - fire.hour + 12) % 24 - 12  # -12..11
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def test_a_scheduled_scenario_mails_each_segment_member_once_when_the_local_clock_passes_its_time(scheduled_stack):
    stack, fire = scheduled_stack
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    # GIVEN three subscribed shoppers with something in their cart (the `cart_abandoners` segment)
    users = [f"e2e-digest-{n}" for n in range(3)]
    for user in users:
        identify = {
            "userId": user,
            "traits": {"email": f"{user}@example.com", "firstName": "Kim"},
            "context": {"timezone": _noon_zone(fire)},
        }
        added = {
            "userId": user,
            "event": "Product Added",
            "properties": {"product_id": "p1", "price": 10, "quantity": 1},
        }
        for path, body in (
            ("/v1/identify", identify),
            ("/v1/track", {"userId": user, "event": "Email Subscribed"}),
            ("/v1/track", added),
        ):
            assert call(stack, "POST", path, body, _basic(stack.server_key))[0] == 200

    def members() -> set[str]:
        status, _, body = call(stack, "GET", "/admin/segments/cart_abandoners/members?limit=100", headers=admin)
        return {m["profile_id"] for m in json.loads(body).get("items", [])} if status == 200 else set()

    assert eventually(lambda: len(members()) >= 3, timeout=20)

    def digests() -> Counter[str] | None:
        """Digests in the outbox; None while the outbox cannot be read (it dumps moto's whole state, which a loaded
        machine may not serve within its timeout: a 503 here is a slow read, not a wrong answer)."""
        status, _, body = call(stack, "GET", "/local/outbox", headers=admin)
        if status == 503:
            time.sleep(0.5)
            return None
        assert status == 200, body
        return Counter(
            to
            for m in json.loads(body)["messages"]
            if m.get("kind") == "email" and "We miss you" in (m.get("subject") or "")
            for to in set(m["to"])
            if to.startswith("e2e-digest-")
        )

    def read_digests() -> Counter[str]:
        """`digests()` once the outbox answers (within 30 s)."""
        read = eventually(lambda: [found] if (found := digests()) is not None else None, timeout=30)
        assert read, "the local outbox did not answer for 30 s"
        return read[0]

    assert read_digests() == Counter()
    # the firer's first run sets its cursor (a fresh deployment fires nothing from before it existed); the pump arms
    # a schedule at its first round, which may come late while it catches up on other modules' stream records
    [firer] = [source for source in stack.pump.sources if source.name == "fire_schedules"]
    assert eventually(lambda: getattr(firer, "next_due", None) is not None, timeout=60)
    ddb = make_client("dynamodb", stack.moto_url)
    cursor = {"pk": {"S": "schedule"}, "sk": {"S": "cursor"}}
    assert call(stack, "POST", "/local/clock/advance", {"minutes": 1}, admin)[0] == 200
    assert eventually(lambda: "Item" in ddb.get_item(TableName="one2one-state", Key=cursor), timeout=30)

    # WHEN the local clock passes the cron time (the pump runs the minute schedule on that clock)
    assert call(stack, "POST", "/local/clock/advance", {"hours": 2, "minutes": 1}, admin)[0] == 200

    # THEN each member gets exactly one digest, and the next minutes fire nothing more
    expected = Counter({f"{u}@example.com": 1 for u in users})
    assert eventually(lambda: digests() == expected, timeout=60), digests()
    assert call(stack, "POST", "/local/clock/advance", {"minutes": 5}, admin)[0] == 200
    eventually(lambda: False, timeout=1.0)  # let the pump run its schedules on the new time
    assert read_digests() == expected
    assert stack.pump.errors == [] and stack.pump.dead_letters == []
