"""SMS consent from a browser (a client source) through the HTTP API on moto: a tracked `SMS Subscribed` changes
nothing, the code texted through SNS does; wrong codes, expiry, the code never stored in clear, one text per request."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import ORIGIN
from tests.integration.scenario_support import World, world_fixture  # noqa: F401 - registers `world`

PHONE = "+14155550123"
BROWSER_KEY = "browser-public-key"
VISITOR = "anon-sms-1"


@pytest.fixture
def browser(world: World) -> Iterator[dict[str, Any]]:
    """A client source (a public write key) and every SNS Publish the app makes, as sent."""
    from chalicelib.bootstrap import get_source_registry
    from chalicelib.delivery.adapters import sns_notify

    get_source_registry().upsert_source("browser", BROWSER_KEY, [ORIGIN], kind="client")
    publishes: list[dict[str, Any]] = []
    sns_notify._client().meta.events.register(
        "provide-client-params.sns.Publish", lambda params, **_: publishes.append(dict(params))
    )
    yield {"publishes": publishes}


def _post(world: World, path: str, body: Any) -> Any:
    auth = "Basic " + base64.b64encode(f"{BROWSER_KEY}:".encode()).decode()
    return world.h.post(path, body, auth=False, headers={"Authorization": auth, "Origin": ORIGIN})


def _texts() -> list[tuple[str, str]]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())


def _code(text: str) -> str:
    return re.search(r"\b(\d{6})\b", text).group(1)


def _visitor(world: World) -> dict[str, Any]:
    return world.h.json(world.h.admin(f"/admin/profiles?anonymous_id={VISITOR}"))["profile"]


def _request(world: World) -> str:
    response = _post(world, "/v1/subscribe/sms", {"phone": "+1 415-555-0123", "anonymousId": VISITOR, "source": "cart"})
    assert response.status_code == 200, response.body
    assert world.h.json(response) == {"success": True, "status": "code_sent"}
    return _code(_texts()[-1][1])


def _confirm(world: World, code: Any, phone: str = PHONE) -> Any:
    return _post(world, "/v1/subscribe/sms/confirm", {"phone": phone, "code": code})


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_browser_cannot_grant_sms_consent_by_tracking_it(world: World, browser: dict[str, Any]) -> None:
    # WHEN a browser tracks `SMS Subscribed` with a phone trait, no code involved
    _post(world, "/v1/identify", {"anonymousId": VISITOR, "traits": {"phone": PHONE}})
    response = _post(world, "/v1/track", {"anonymousId": VISITOR, "event": "SMS Subscribed"})
    assert response.status_code == 200, response.body
    world.drain()
    # THEN the event is kept but not applied: no SMS consent, and the number stays a claim
    profile = _visitor(world)
    assert "sms" not in profile["consent"]
    assert profile["phone"] is None and profile["traits"]["claimed_phone"] == PHONE
    assert browser["publishes"] == []


def test_the_right_code_grants_sms_consent_once_with_provenance(world: World, browser: dict[str, Any]) -> None:
    # GIVEN a visitor asking for texts at checkout: one transactional SMS with a code goes through SNS
    code = _request(world)
    [publish] = browser["publishes"]
    assert publish["PhoneNumber"] == PHONE
    assert publish["MessageAttributes"]["AWS.SNS.SMS.SMSType"]["StringValue"] == "Transactional"
    assert len(_texts()) == 1
    world.drain()
    assert "sms" not in _visitor(world)["consent"]
    # WHEN they type the code back a minute later
    world.advance(minutes=1)
    done = _confirm(world, code)
    assert done.status_code == 200, done.body
    assert world.h.json(done) == {"success": True, "status": "subscribed"}
    world.drain()
    # THEN the fold gives them SMS consent and the proven number, with the source and times on the event
    profile = _visitor(world)
    assert profile["consent"]["sms"]["status"] == "opted_in"
    assert profile["phone"] == PHONE
    events = json.dumps(world.h.json(world.h.admin(f"/admin/profiles/{profile['profile_id']}?events=20")))
    assert '"method": "sms_code"' in events and '"source": "cart"' in events and "requested_at" in events
    assert "confirmed_at" in events
    # AND the code is single use, and nothing else was texted
    assert _confirm(world, code).status_code == 400
    assert len(browser["publishes"]) == 1


def test_five_wrong_codes_void_the_request(world: World, browser: dict[str, Any]) -> None:
    code = _request(world)
    for left in (4, 3, 2, 1, 0):
        wrong = _confirm(world, _wrong(code))
        body = world.h.json(wrong)
        assert wrong.status_code == 400
        assert body["error"] == "wrong_code" and body["field"] == "code" and body["attempts_left"] == left
    late = _confirm(world, code)
    assert late.status_code == 400 and world.h.json(late)["error"] == "code_expired"
    world.drain()
    assert "sms" not in _visitor(world)["consent"]


def test_an_expired_code_is_refused(world: World, browser: dict[str, Any]) -> None:
    code = _request(world)
    world.advance(minutes=10, seconds=1)
    expired = _confirm(world, code)
    assert expired.status_code == 400
    assert world.h.json(expired)["error"] == "code_expired" and world.h.json(expired)["field"] == "code"


def test_the_code_is_never_stored_in_clear(world: World, browser: dict[str, Any]) -> None:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    code = _request(world)
    world.drain()
    from chalicelib.tracking import event_codec

    def text(item: dict[str, Any]) -> str:
        # An event body is stored deflated: search it as the JSON it is, or the scan would see nothing of it.
        if event_codec.ATTRIBUTE in item:
            item = {**item, event_codec.ATTRIBUTE: {"S": b"\n".join(event_codec.bodies(item)).decode()}}
        return json.dumps(item)

    ddb = client("dynamodb")
    everything = "\n".join(
        text(item)
        for t in ("StateTable", "MessagesTable", "EventsTable")
        for item in ddb.scan(TableName=table_name(t))["Items"]
    )
    assert "sms" in everything.lower() and '"bz"' in everything  # the events are read, expanded
    assert "sms-code#" in everything  # the pending request is there...
    assert code not in everything  # ...without its code


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ({"phone": "415-555-0123", "anonymousId": VISITOR}, "phone", "invalid_field"),
        ({"phone": "+44 909 876 5432", "anonymousId": VISITOR}, "phone", "sms_destination_refused"),
        ({"phone": "+55 11 91234 5678", "anonymousId": VISITOR}, "phone", "sms_destination_refused"),  # BR
        ({"phone": PHONE}, "userId", "missing_id"),
    ],
)
def test_a_bad_request_is_a_4xx_naming_the_field_and_texts_nothing(
    world: World, browser: dict[str, Any], body: dict[str, Any], field: str, error: str
) -> None:
    response = _post(world, "/v1/subscribe/sms", body)
    assert response.status_code == 400, response.body
    assert world.h.json(response)["field"] == field and world.h.json(response)["error"] == error
    assert browser["publishes"] == []


def test_a_bad_confirmation_is_a_4xx_naming_the_field(world: World, browser: dict[str, Any]) -> None:
    _request(world)
    for body, field in (({"phone": PHONE, "code": 123456}, "code"), ({"phone": "nope", "code": "123456"}, "phone")):
        response = _post(world, "/v1/subscribe/sms/confirm", body)
        assert response.status_code == 400 and world.h.json(response)["field"] == field
    assert _post(world, "/v1/subscribe/sms/confirm", "[1]").status_code == 400
    no_key = world.h.post("/v1/subscribe/sms/confirm", {"phone": PHONE, "code": "123456"}, auth=False)
    assert no_key.status_code == 401


def test_codes_to_one_number_are_limited_like_confirmation_mails(world: World, browser: dict[str, Any]) -> None:
    for n in range(6):
        body = {"phone": PHONE, "anonymousId": f"{VISITOR}-{n}"}
        assert _post(world, "/v1/subscribe/sms", body).status_code == 200  # the same answer: nothing revealed
    assert len(browser["publishes"]) == 3 and len(_texts()) == 3
