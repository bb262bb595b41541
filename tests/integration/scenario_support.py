"""Shared set-up for scenario and delivery integration tests: a frozen clock, a verified sender, captured SES calls."""

from __future__ import annotations

import email
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from typing import Any

import pytest

from tests.integration.conftest import Harness

# 10:00 in Tokyo (the default zone), 20:00 the evening before in New York.
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SENDER = "shop@shop.example"
SIGNING_KEY = "test-signing-key"


@dataclass
class World:
    """The harness plus the fake clock and what the app asked SES / SNS to do."""

    h: Harness
    clock: Any
    ses_calls: list[dict[str, Any]] = field(default_factory=list)

    # -- driving ------------------------------------------------------------------------------------------------------
    def send(self, path: str, body: dict[str, Any]) -> None:
        response = self.h.post(path, body)
        assert response.status_code == 200, response.body

    def advance(self, **delta: float) -> None:
        self.clock.advance(timedelta(**delta))

    def drain(self) -> None:
        self.h.pump.drain()
        assert not self.h.pump.dead_letters, self.h.pump.dead_letters
        assert not self.h.pump.errors, self.h.pump.errors

    def customer(
        self,
        user_id: str,
        *,
        email_address: str | None = None,
        first_name: str = "Hana",
        timezone: str | None = None,
        subscribe: bool = True,
        traits: dict[str, Any] | None = None,
    ) -> None:
        identify: dict[str, Any] = {"userId": user_id, "traits": {"firstName": first_name, **(traits or {})}}
        if email_address:
            identify["traits"]["email"] = email_address
        if timezone:
            identify["context"] = {"timezone": timezone}
        self.send("/v1/identify", identify)
        if subscribe:
            self.send("/v1/track", {"userId": user_id, "event": "Email Subscribed"})

    def add_to_cart(self, user_id: str, product_id: str = "sku-1", name: str = "Linen Shirt", **extra: Any) -> None:
        properties = {"product_id": product_id, "name": name, "price": 4900, "quantity": 1, **extra}
        self.send("/v1/track", {"userId": user_id, "event": "Product Added", "properties": properties})

    # -- reading ------------------------------------------------------------------------------------------------------
    def outbox(self) -> list[dict[str, Any]]:
        """Emails moto's SES recorded, parsed (headers, text, html)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        out = []
        for message in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages:
            parsed = email.message_from_string(message.raw_data, policy=default_policy)
            bodies = {p.get_content_type(): p.get_content() for p in parsed.walk() if not p.is_multipart()}
            out.append(
                {
                    "to": message.destinations,
                    "headers": parsed,
                    "subject": str(parsed["Subject"]),
                    "text": bodies.get("text/plain", ""),
                    "html": bodies.get("text/html", ""),
                }
            )
        return out

    def messages(self, profile_id: str) -> list[dict[str, Any]]:
        response = self.h.admin(f"/admin/profiles/{profile_id}/messages")
        assert response.status_code == 200, response.body
        return self.h.json(response)["messages"]

    def runs(self, profile_id: str) -> list[dict[str, Any]]:
        return self.h.json(self.h.admin(f"/admin/profiles/{profile_id}/messages"))["runs"]


def user_profile_id(user_id: str) -> str:
    from chalicelib.tracking.identity import profile_id_for

    return profile_id_for("user", user_id)


def user_in(scenario_id: str, percent: float, *, holdout: bool, prefix: str = "user") -> str:
    """A user id whose profile is (or is not) in the scenario's holdout: assignment is a deterministic hash."""
    from chalicelib.scenarios.assignment import in_holdout

    for n in range(10_000):
        candidate = f"{prefix}-{n}"
        if in_holdout(scenario_id, user_profile_id(candidate), percent) == holdout:
            return candidate
    raise AssertionError("no candidate found")


def holdout_report(world: World, scenario_id: str) -> dict[str, Any]:
    """The scenario report's holdout section (treated and holdout arms), read through the admin API."""
    response = world.h.admin(f"/admin/reports/scenarios/{scenario_id}")
    assert response.status_code == 200, response.body
    return world.h.json(response)["holdout"]  # type: ignore[no-any-return]


def capturing(world: World, name: str) -> tuple[list[dict[str, Any]], Callable[[], None]]:
    """Record every event the function `name` is invoked with; returns them and the undo."""
    handler = world.h.app.handler_map[name]
    captured: list[dict[str, Any]] = []

    def capture(event: dict[str, Any], context: Any) -> Any:
        captured.append(event)
        return handler(event, context)

    world.h.app.handler_map[name] = capture
    return captured, lambda: world.h.app.handler_map.__setitem__(name, handler)


@pytest.fixture(name="world")
def world_fixture(moto_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from chalice.test import Client

    from app import app
    from chalicelib import bootstrap
    from chalicelib.bootstrap import get_source_registry
    from chalicelib.delivery.adapters import ses_email
    from chalicelib.shared import clock
    from chalicelib.shared.aws import client
    from local.pump import StreamPump
    from tests.integration.conftest import ORIGIN, WRITE_KEY

    monkeypatch.setenv("ONE2ONE_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("ONE2ONE_EMAIL_FROM", SENDER)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://shop.example")
    previous = clock.get_clock()
    fake = clock.FakeClock(START)
    clock.set_clock(fake)
    bootstrap.reset()
    client("sesv2").create_email_identity(EmailIdentity="shop.example")
    calls: list[dict[str, Any]] = []
    ses_email._client().meta.events.register(
        "provide-client-params.sesv2.SendEmail", lambda params, **_: calls.append(dict(params))
    )
    get_source_registry().upsert_source("web", WRITE_KEY, [ORIGIN], kind="server")
    try:
        with Client(app) as test_client:
            yield World(Harness(client=test_client, app=app, pump=StreamPump(app)), fake, calls)
    finally:
        clock.set_clock(previous)
        bootstrap.reset()
