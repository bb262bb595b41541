"""`make run` end to end: real HTTP to Chalice local, a moto server, and the pump folding events in the background."""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.provision import make_client
from local.stack import DEMO_DIR, Stack, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    running = start_stack(port=0, pump_interval=0.02)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _stack_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared autouse fixture clears AWS_ENDPOINT_URL per test; the app's clients must keep talking to the stack."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.moto_url)


def call(stack: Stack, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    all_headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(
        f"{stack.api_url}{path}", data=data, method=method, headers=all_headers | (headers or {})
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_the_api_answers_and_serves_the_tracker(stack):
    status, headers, body = call(stack, "GET", "/tracker.js")

    assert status == 200
    assert "javascript" in headers["Content-Type"]
    assert len(body) > 100


def test_the_demo_shop_is_served_from_local_demo_without_escaping_it(stack):
    status, headers, body = call(stack, "GET", "/demo/")
    assert status == 200
    assert headers["Content-Type"] == "text/html"
    assert body == (DEMO_DIR / "index.html").read_bytes()

    assert call(stack, "GET", "/demo/../app.py")[0] == 404
    assert call(stack, "GET", "/demo/%2e%2e/app.py")[0] == 404


def test_a_tracked_event_is_stored_and_folded_by_the_background_pump(stack):
    auth = "Basic " + base64.b64encode(f"{stack.write_key}:".encode()).decode()
    message = {
        "anonymousId": "e2e-anon-1",
        "event": "Product Viewed",
        "properties": {"sku": "p1"},
        "messageId": "e2e-1",
    }

    status, _, body = call(
        stack, "POST", "/v1/track", message, {"Authorization": auth, "Content-Type": "application/json"}
    )

    assert status == 200, body
    ddb = make_client("dynamodb", stack.moto_url)
    # (moto's state is per process: another module's stack may have left events, so look for this one by key)
    from chalicelib.tracking.identity import profile_id_for

    partition = {
        "TableName": "one2one-event-log",
        "KeyConditionExpression": "profile_id = :p",
        "ExpressionAttributeValues": {":p": {"S": profile_id_for("anon", "e2e-anon-1")}},
    }
    assert eventually(lambda: any(i["pk"]["S"] == "local#e2e-1" for i in ddb.query(**partition)["Items"]))
    # The events-stream handler ran in the pump thread and created the visitor's profile.
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    lookup = "/admin/profiles?anonymous_id=e2e-anon-1"
    assert eventually(lambda: call(stack, "GET", lookup, headers=admin)[0] == 200)
    assert stack.pump.errors == []
    status, _, body = call(stack, "GET", lookup, headers=admin)
    assert status == 200, body
    assert "e2e-1" in body.decode()  # the profile view lists the event it was folded from


def test_the_seeded_source_allows_the_local_origins(stack):
    origin = stack.api_url.replace("127.0.0.1", "localhost")
    status, headers, _ = call(
        stack, "OPTIONS", "/v1/track", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
    )

    assert status in (200, 204)
    assert headers.get("Access-Control-Allow-Origin") == origin


def test_the_admin_api_wants_the_local_bearer_token(stack):
    assert call(stack, "GET", "/admin/failed-events")[0] == 401

    status, _, body = call(
        stack, "GET", "/admin/failed-events", headers={"Authorization": f"Bearer {stack.admin_token}"}
    )
    assert status == 200
    assert "items" in json.loads(body)


def test_the_local_tools_are_enabled_and_the_clock_drives_the_pump(stack):
    from chalicelib.shared.clock import get_clock

    assert call(stack, "POST", "/local/clock/advance", {"days": 2})[0] == 401  # the admin token is needed

    # the command `make run` prints, run as printed (curl -d sends a form content type)
    command = shlex.split(stack.urls()["clock"].replace('{"days": 1}', '{"days": 2}'))
    done = subprocess.run(command + ["-s", "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=30)
    body, status = done.stdout.rsplit("\n", 1)

    assert status == "200", done.stdout + done.stderr
    assert json.loads(body)["now"][:10] == (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d")
    assert stack.pump.now().date() == get_clock().now().date() > datetime.now(UTC).date()
    outbox_url = stack.urls()["outbox"].split()[0]  # opened in a browser: the token is in the URL
    with urllib.request.urlopen(outbox_url, timeout=10) as response:
        assert response.status == 200 and "messages" in json.loads(response.read())


def test_data_survives_a_restart_and_restored_events_are_not_folded_again(tmp_path):
    # GIVEN a stack that keeps its data in a directory, and a visitor's three page views folded into a profile
    first = start_stack(port=0, state_dir=tmp_path, pump_interval=0.02)
    try:
        ids = [f"persist-{i}" for i in range(3)]
        batch = {"batch": [{"type": "page", "anonymousId": "persist-me", "messageId": i} for i in ids]}
        status, _, body = call(first, "POST", "/v1/batch", batch, headers=_basic(first.write_key))
        assert status == 200, body
        profile = eventually(lambda: _page_views(first, "persist-me") == 3)
        assert profile
    finally:
        first.stop()
    assert (tmp_path / "tables.json").is_file()

    # WHEN the stack starts again from the same directory
    second = start_stack(port=0, state_dir=tmp_path, pump_interval=0.02)
    try:
        # THEN the profile is there, and the restored events were not folded a second time
        assert second.restored_items > 0
        assert "items restored" in second.urls()["data"]
        time.sleep(0.5)  # several pump rounds
        assert _page_views(second, "persist-me") == 3
        # and new events still fold on top
        more = {"batch": [{"type": "page", "anonymousId": "persist-me", "messageId": "persist-3"}]}
        assert call(second, "POST", "/v1/batch", more, headers=_basic(second.write_key))[0] == 200
        assert eventually(lambda: _page_views(second, "persist-me") == 4)
    finally:
        second.stop()


def _basic(write_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


def _page_views(stack: Stack, anonymous_id: str) -> int | None:
    status, _, body = call(
        stack,
        "GET",
        f"/admin/profiles?anonymous_id={anonymous_id}",
        headers={"Authorization": f"Bearer {stack.admin_token}"},
    )
    if status != 200:
        return None
    return json.loads(body)["profile"]["computed"].get("page_views")


def test_stop_releases_the_ports_and_restores_the_environment():
    endpoint_before = os.environ.get("AWS_ENDPOINT_URL")
    second = start_stack(port=0)
    assert os.environ["AWS_ENDPOINT_URL"] == second.moto_url

    second.stop()

    assert os.environ.get("AWS_ENDPOINT_URL") == endpoint_before
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{second.api_url}/tracker.js", timeout=2)


def test_the_demo_backend_mints_identity_tokens_the_browser_key_needs(stack):
    # GIVEN the demo shop's browser key (a client source) and its backend's token for a signed-in customer
    status, _, body = call(stack, "POST", "/demo/api/identity-token", {"userId": "cust_e2e"})
    assert status == 200, body
    token = json.loads(body)["identityToken"]
    auth = {"Authorization": "Basic " + base64.b64encode(f"{stack.write_key}:".encode()).decode()}
    admin = {"Authorization": f"Bearer {stack.admin_token}"}

    def identify(user_id: str, email: str, **context: Any) -> int:
        message = {"userId": user_id, "anonymousId": f"a-{user_id}", "traits": {"email": email}, "context": context}
        return call(stack, "POST", "/v1/identify", message, auth)[0]

    # WHEN the browser identifies with the token, and another visitor claims a userId without one
    assert identify("cust_e2e", "cust@example.com", identityToken=token) == 200
    assert identify("cust_other", "other@example.com") == 200

    # THEN the vouched customer is linked with their address, the unproven claim is not
    linked = eventually(lambda: call(stack, "GET", "/admin/profiles?user_id=cust_e2e", headers=admin)[0] == 200)
    assert linked
    profile = json.loads(call(stack, "GET", "/admin/profiles?user_id=cust_e2e", headers=admin)[2])["profile"]
    assert profile["email"] == "cust@example.com"
    time.sleep(0.3)
    assert call(stack, "GET", "/admin/profiles?user_id=cust_other", headers=admin)[0] == 404


@pytest.mark.parametrize("accept", [None, "text/html"])
def test_the_open_pixel_answers_the_gif_over_http_without_an_image_accept(stack, accept):
    # urllib sends no Accept header unless told: the request a bare mail proxy makes
    headers = {} if accept is None else {"Accept": accept}
    for path in ("/t/o/not-a-token.gif", "/v1/pixel/page?writeKey=local-dev-key&anonymousId=e2e-pixel"):
        status, response_headers, body = call(stack, "GET", path, headers=headers)
        assert status == 200, body
        assert response_headers["Content-Type"] == "image/gif" and body.startswith(b"GIF89a")


def test_a_mail_to_the_bounce_simulator_is_bounced_suppressed_and_counted_for_the_day(stack):
    from chalicelib.bootstrap import get_engagement_service, get_message_store
    from chalicelib.engagement.ports import OutgoingEmail

    # WHEN the app's SES sender mails the SES bounce simulator (tags as delivery sets them)
    tags = {"scenario": "e2e_daily", "step": "s1", "variant": "none", "message_id": "e2e-bounce-1"}
    mail = OutgoingEmail("bounce@simulator.amazonses.com", "Hello", "<p>hi</p>", "hi", "e2e-bounce-1", tags)
    sender = get_engagement_service().email
    assert sender is not None
    # The pump hooks the app's SES client at its next round (a test's cache reset makes a new client): wait for the
    # hook, or a send made first on a busy machine is one SES "accepted" without the pump seeing it
    from chalicelib.delivery.adapters.ses_email import _client

    [ses_source] = [source for source in stack.pump.sources if source.name == "local_ses_events"]
    assert eventually(lambda: ses_source._watched == id(_client()), timeout=30)
    sender.send(mail)
    # THEN the pump publishes the Bounce SES would publish, and ses_feedback suppresses the address and counts it
    # (30 s: after an earlier test moved the local clock by days, the pump first runs the daily jobs it owes)
    assert eventually(lambda: get_message_store().is_suppressed("email", "bounce@simulator.amazonses.com"), timeout=30)
    day = stack.pump.now().date().isoformat()
    admin = {"Authorization": f"Bearer {stack.admin_token}"}

    def bounced() -> int:
        status, _, body = call(stack, "GET", f"/admin/reports/daily?from={day}&to={day}", headers=admin)
        assert status == 200, body
        return int(json.loads(body)["days"][0]["email"]["bounced"])

    assert eventually(lambda: bounced() == 1, timeout=30)
    status, _, body = call(stack, "GET", "/admin/reports/scenarios/e2e_daily", headers=admin)
    assert status == 200 and json.loads(body)["totals"][0]["counters"]["bounced"] == 1, body
    assert stack.pump.errors == []


def test_a_push_shows_in_the_local_outbox_with_its_platform_payload(stack):
    from chalicelib.bootstrap import get_push_sender
    from chalicelib.delivery.push import RenderedPush

    # WHEN the app's push sender publishes to an iPhone and an Android phone (platform apps made by provisioning)
    push = RenderedPush(title="Your cart", body="2 items wait", deep_link="shop://cart", badge=1, sound="default")
    sender = get_push_sender()
    sender.send({"token": "e2" * 32, "platform": "ios", "app": "com.shop"}, push, "e2e-push-1")
    sender.send({"token": "e2e:APA91b" + "P" * 140, "platform": "android", "app": "com.shop"}, push, "e2e-push-1")
    # THEN the outbox lists both, with each platform's payload as the app receives it
    outbox_url = stack.urls()["outbox"].split()[0]
    with urllib.request.urlopen(outbox_url, timeout=10) as response:
        messages = [m for m in json.loads(response.read())["messages"] if m["kind"] == "push"]
    by_platform = {m["platform"]: m for m in messages}
    assert by_platform["APNS"]["payload"]["aps"]["alert"] == {"title": "Your cart", "body": "2 items wait"}
    assert by_platform["GCM"]["payload"]["fcmV1Message"]["message"]["data"]["deep_link"] == "shop://cart"
    assert by_platform["APNS"]["subject"] == "Your cart"
