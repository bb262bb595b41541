"""Issue 5 end to end: tracked opens and clicks, one-click unsubscribe, SES feedback, conversions, reports, erasure."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.scenario_support import (
    World,
    user_in,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

CART = "cart_abandonment"
SES_EVENTS = Path(__file__).resolve().parents[2] / "events" / "ses"
HUMAN_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4"
APPLE_MPP_UA = "Mozilla/5.0"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


CART_URL = "https://shop.example/cart?from=mail&x=1"


def _sent_reminder(world: World, user: str, address: str) -> dict[str, Any]:
    from chalicelib.bootstrap import get_delivery_service
    from chalicelib.delivery import templating

    # The packaged cart template links to `cart_url` (a shop setting, not configured in tests): give it one.
    def render(template: str, profile: Any, extra: dict[str, Any], **kwargs: Any) -> Any:
        return templating.render(template, profile, {**extra, "cart_url": CART_URL}, **kwargs)

    get_delivery_service()._renderer = render
    world.customer(user, email_address=address)
    world.add_to_cart(user, url="https://shop.example/p/sku-1")
    world.drain()
    world.advance(hours=1, minutes=1)
    world.drain()
    [sent] = world.outbox()
    return sent


def _get(world: World, path: str, **headers: str) -> Any:
    return world.h.client.http.get(path, headers=headers)


def _pixel_path(html: str) -> str:
    [path] = re.findall(r'src="https://shop\.example(/t/o/[^"]+\.gif)"', html)
    return path


def _click_paths(html: str) -> list[str]:
    return re.findall(r'href="https://shop\.example(/t/c/[^"]+)"', html)


def _report_row(world: World, scenario: str, step: str) -> dict[str, Any]:
    response = world.h.admin(f"/admin/reports/scenarios/{scenario}")
    assert response.status_code == 200, response.body
    [row] = [r for r in world.h.json(response)["rows"] if r["step"] == step]
    return row


def _unsubscribe_path(sent: dict[str, Any]) -> str:
    header = sent["headers"]["List-Unsubscribe"]
    return re.search(r"<https://shop\.example(/u/[^>]+)>", header).group(1)


def test_open_click_and_order_land_in_the_right_report_columns(world: World) -> None:
    # GIVEN a cart reminder that went out with tracked links and an open pixel
    user = user_in(CART, 10, holdout=False)
    sent = _sent_reminder(world, user, "track@example.com")
    html = sent["html"]
    clicks = _click_paths(html)
    assert clicks and "/cart?from=mail" not in html
    assert 'href="https://shop.example/u/' in html  # unsubscribe and preference links are never rewritten
    pixel = _pixel_path(html)

    # WHEN Apple's proxy fetches the pixel at delivery, and the person opens two minutes later
    machine = _get(world, pixel, Accept="image/*", **{"User-Agent": APPLE_MPP_UA})
    assert machine.status_code == 200 and machine.body.startswith(b"GIF89a")
    world.advance(minutes=2)
    human = _get(world, pixel, Accept="image/*", **{"User-Agent": HUMAN_UA, "X-Forwarded-For": "203.0.113.9"})
    assert human.status_code == 200 and human.body.startswith(b"GIF89a")
    _get(world, pixel, Accept="image/*", **{"User-Agent": HUMAN_UA})  # a reload counts once
    # AND clicks the cart button (the last tracked link: the shop name and product cards come first) a minute later
    world.advance(minutes=1)
    response = _get(world, clicks[-1], **{"User-Agent": HUMAN_UA})
    assert response.status_code == 302
    assert response.headers["Location"] == CART_URL  # the original URL, HTML entities decoded
    world.drain()
    # AND orders an hour later
    world.advance(hours=1)
    order = {"order_id": "o-9", "revenue": 98.0}
    world.send("/v1/track", {"userId": user, "event": "Order Completed", "properties": order})
    world.drain()

    # THEN each fact is in its column, on the step and variant that was sent
    row = _report_row(world, CART, "reminder_1")
    counters = row["counters"]
    assert counters["sent"] == 1 and counters["human_opens"] == 1 and counters["machine_opens"] == 1
    assert counters["clicks"] == 1 and counters["conversions"] == 1 and counters["revenue"] == 98.0
    assert row["rates"]["click_to_open"] == 1.0
    # AND the profile history has a human open, a machine open and a click (source `email`)
    history = world.h.json(world.h.admin(f"/admin/profiles/{user_profile_id(user)}?events=50"))
    names = json.dumps(history)
    assert "Email Opened (Machine)" in names and '"Email Opened"' in names and "Email Link Clicked" in names
    # AND the list endpoint pages over scenarios with counters
    listing = world.h.json(world.h.admin("/admin/reports/scenarios?limit=1"))
    assert [s["scenario_id"] for s in listing["scenarios"]] == [CART]


def test_forged_truncated_and_rotated_tokens_never_redirect(world: World, monkeypatch: Any) -> None:
    from chalicelib import bootstrap

    user = user_in(CART, 10, holdout=False)
    sent = _sent_reminder(world, user, "forge@example.com")
    click = _click_paths(sent["html"])[0]
    pixel = _pixel_path(sent["html"])
    kid, body, mac = click.removeprefix("/t/c/").split(".")
    forged = [
        f"/t/c/{kid}.{body}.{'A' * len(mac)}",  # wrong MAC
        f"/t/c/{kid}.{body[:-4]}.{mac}",  # truncated body
        f"/t/c/{kid}.{body}",  # missing MAC
        "/t/c/k9.eyJ4IjoxfQ.AAAAAAAAAAAAAAAAAAAAAA",  # unknown key
    ]
    for path in forged:
        response = _get(world, path)
        assert response.status_code == 404, path
        assert "Location" not in response.headers
    bad_pixel = _get(world, pixel[:-10] + "xx.gif", Accept="image/*")
    assert bad_pixel.status_code == 200 and bad_pixel.body.startswith(b"GIF89a")

    # WHEN the key that signed the mail is retired (rotation finished)
    monkeypatch.setenv("ONE2ONE_LINK_KEYS", "k2:" + "bmV3LWtleS1uZXcta2V5LW5ldy1rZXk=")
    bootstrap.reset()
    # THEN its links stop redirecting, and opens still answer the GIF
    assert _get(world, click).status_code == 404
    assert _get(world, pixel, Accept="image/*").body.startswith(b"GIF89a")


def test_one_click_unsubscribe_stops_the_next_marketing_email_before_the_fold_catches_up(world: World) -> None:
    user = user_in(CART, 10, holdout=False)
    sent = _sent_reminder(world, user, "unsub@example.com")
    path = _unsubscribe_path(sent)
    # GET is a confirmation page only (scanners follow links): no state change
    page = world.h.client.http.get(path)
    assert page.status_code == 200 and b"<form" in page.body
    # A wrong body is refused
    wrong = world.h.client.http.post(path, body="List-Unsubscribe=Yes", headers=FORM)
    assert wrong.status_code == 400
    # WHEN the mail client posts RFC 8058 one-click
    done = world.h.client.http.post(path, body="List-Unsubscribe=One-Click", headers=FORM)
    assert done.status_code == 200
    # AND the last reminder comes due before the events stream is folded (the step runs straight from the queue)
    world.advance(hours=24)
    [run] = [r for r in world.runs(user_profile_id(user)) if r["scenario_id"] == CART]
    body = json.dumps({"p": run["profile_id"], "t": run["trigger_id"], "s": 3})
    assert run["step_index"] == 3
    world.h.app.handler_map["deliver_steps"]({"Records": [{"messageId": "x", "body": body}]}, None)
    # THEN no second email, and the record says why
    assert len(world.outbox()) == 1
    final = [m for m in world.messages(user_profile_id(user)) if m["step_index"] == 3]
    assert final and final[0]["status"] == "skipped" and final[0]["reason"] == "no_consent"
    # AND the unsubscribe is on the report row of the message it came from
    world.drain()
    assert _report_row(world, CART, "reminder_1")["counters"]["unsubscribes"] == 1


def _feedback(name: str, address: str, **tags: str) -> str:
    envelope = json.loads((SES_EVENTS / name).read_text())
    event = json.loads(envelope["Message"])
    event["mail"]["destination"] = [address]
    event["mail"]["tags"] = {k: [v] for k, v in tags.items()}
    for key in ("bounce", "complaint"):
        if key in event:
            for row in event[key].get(f"{key}edRecipients", []) + event[key].get("bouncedRecipients", []):
                row["emailAddress"] = address
    return json.dumps(event)


def _publish(message: str) -> None:
    from chalicelib.delivery.adapters.sns_notify import topic_arn_by_name
    from chalicelib.shared.aws import client

    client("sns").publish(TopicArn=topic_arn_by_name("one2one-ses-feedback"), Message=message)


def test_permanent_bounce_suppresses_and_the_next_send_is_skipped(world: World) -> None:
    from chalicelib.bootstrap import get_message_store

    # GIVEN a customer whose address hard-bounced (SES -> SNS -> ses_feedback, through the pump)
    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="gone@example.com")
    world.drain()
    _publish(_feedback("bounce_permanent.json", "gone@example.com"))
    world.drain()
    assert get_message_store().is_suppressed("email", "gone@example.com")
    # WHEN a cart reminder comes due
    world.add_to_cart(user)
    world.drain()
    world.advance(hours=1, minutes=1)
    world.drain()
    # THEN nothing is sent and the record says suppressed
    assert world.outbox() == []
    [record] = world.messages(user_profile_id(user))
    assert record["status"] == "skipped" and record["reason"] == "suppressed"


def test_delivery_feedback_is_counted_once_per_notification(world: World) -> None:
    message = _feedback("delivery.json", "d@example.com", scenario=CART, step="reminder_1", variant="a")
    handler = world.h.app.handler_map["ses_feedback"]
    from chalicelib.delivery.adapters.sns_notify import topic_arn_by_name

    record = {
        "EventSource": "aws:sns",
        "Sns": {
            "Type": "Notification",
            "MessageId": "n-1",
            "TopicArn": topic_arn_by_name("one2one-ses-feedback"),
            "Message": message,
            "Timestamp": "2026-03-02T01:00:00.000Z",
            "Subject": None,
            "MessageAttributes": {},
        },
    }
    handler({"Records": [record]}, None)
    handler({"Records": [record]}, None)  # SNS delivers at least once
    assert _report_row(world, CART, "reminder_1")["counters"]["delivered"] == 1


def test_feedback_from_another_topic_or_malformed_is_dropped_and_changes_nothing(world: World) -> None:
    from chalicelib.bootstrap import get_message_store
    from chalicelib.delivery.adapters.sns_notify import topic_arn_by_name

    handler = world.h.app.handler_map["ses_feedback"]
    bounce = _feedback("bounce_permanent.json", "victim@example.com", scenario=CART, step="reminder_1")
    foreign = {
        "EventSource": "aws:sns",
        "Sns": {
            "Type": "Notification",
            "MessageId": "n-2",
            "TopicArn": topic_arn_by_name("one2one-sales-alerts"),
            "Message": bounce,
            "Timestamp": "2026-03-02T01:00:00.000Z",
            "Subject": None,
            "MessageAttributes": {},
        },
    }
    malformed = {"EventSource": "aws:sns", "Sns": {**foreign["Sns"], "MessageId": "n-3", "Message": "{not json"}}
    malformed["Sns"]["TopicArn"] = topic_arn_by_name("one2one-ses-feedback")
    result = handler({"Records": [foreign, malformed]}, None)
    assert result == {"results": ["dropped", "dropped"]}
    assert not get_message_store().is_suppressed("email", "victim@example.com")
    assert world.h.admin(f"/admin/reports/scenarios/{CART}").status_code == 404


def test_erasure_removes_runs_messages_and_send_log_and_keeps_the_suppression_as_a_keyed_hash(world: World) -> None:
    from chalicelib.bootstrap import get_message_store
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name

    user = user_in(CART, 10, holdout=False)
    _sent_reminder(world, user, "erase@example.com")
    get_message_store().suppress("email", "erase@example.com", "complaint", world.clock.now())
    profile_id = user_profile_id(user)
    ddb = client("dynamodb")

    def person_items() -> int:
        page = ddb.query(
            TableName=table_name("MessagesTable"),
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"p#{profile_id}"}},
        )
        return page["Count"]

    assert person_items() > 0
    response = world.h.client.http.delete(
        f"/admin/profiles/{profile_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code == 200, response.body
    assert person_items() == 0
    # the complaint survives erasure, as a keyed hash only: never mailed again, and the address is nowhere
    assert get_message_store().is_suppressed("email", "erase@example.com")
    everything = json.dumps(ddb.scan(TableName=table_name("MessagesTable"))["Items"])
    assert "erase@example.com" not in everything
    # the run's waiting step (reminder_2) is gone from the due store too
    due = ddb.scan(TableName=table_name("DueTable"))["Items"]
    assert not [i for i in due if profile_id in i["sk"]["S"]]


def test_double_opt_in_subscribes_only_after_the_link_is_followed_with_provenance(world: World) -> None:
    # GIVEN a sign-up form posting the address with the write key
    response = world.h.post("/v1/subscribe", {"email": "New@Example.com", "userId": "doi-1", "source": "footer"})
    assert response.status_code == 200, response.body
    world.drain()
    [mail] = world.outbox()
    assert mail["subject"] == "Please confirm your subscription"
    [path] = re.findall(r"https://shop\.example(/confirm/[A-Za-z0-9._-]+)", mail["text"])
    profile_id = user_profile_id("doi-1")
    consent = world.h.json(world.h.admin(f"/admin/profiles/{profile_id}"))
    assert "opted_in" not in json.dumps(consent.get("profile", consent).get("consent", {}))
    # WHEN a link scanner fetches the link: only a page with a button, nothing recorded
    scanner = _get(world, path, **{"User-Agent": "Mozilla/5.0 (compatible; Proofpoint URL Defense)"})
    assert scanner.status_code == 200 and b"<form" in scanner.body
    # AND the person opens it a minute later
    world.advance(minutes=1)
    done = _get(world, path, **{"User-Agent": HUMAN_UA})
    assert done.status_code == 200 and b"subscribed" in done.body
    world.drain()
    # THEN the profile's email consent is opted in, with the source and times on the event
    view = world.h.json(world.h.admin(f"/admin/profiles/{profile_id}?events=20"))
    text = json.dumps(view)
    assert '"opted_in"' in text and "double_opt_in" in text and "footer" in text
    # AND a forged confirm token is a 404
    assert _get(world, path[:-3] + "AAA", **{"User-Agent": HUMAN_UA}).status_code == 404


def test_subscribe_needs_the_write_key_and_an_address(world: World) -> None:
    assert world.h.post("/v1/subscribe", {"email": "a@example.com", "userId": "x"}, auth=False).status_code == 401
    assert world.h.post("/v1/subscribe", {"email": "nope", "userId": "x"}).status_code == 400
    assert world.h.post("/v1/subscribe", {"email": "a@example.com"}).status_code == 400
    assert world.outbox() == []


def test_holdout_runs_are_assigned_and_their_orders_counted_for_uplift(world: World) -> None:
    # GIVEN one customer held out of the cart scenario and one treated, both adding to the cart
    held, treated = user_in(CART, 10, holdout=True), user_in(CART, 10, holdout=False, prefix="t")
    for user in (held, treated):
        world.customer(user, email_address=f"{user}@example.com")
        world.add_to_cart(user)
    world.drain()
    # WHEN the held-out customer orders within the window (nothing was sent to them)
    world.advance(minutes=30)
    world.send("/v1/track", {"userId": held, "event": "Order Completed", "properties": {"revenue": 40}})
    world.drain()
    # THEN the report's holdout arm has the assignment and the conversion; the treated arm its assignment
    report = world.h.json(world.h.admin(f"/admin/reports/scenarios/{CART}"))
    assert report["holdout"]["holdout"] == {"assigned": 1, "run_conversions": 1, "revenue": 40}
    assert report["holdout"]["treated"] == {"assigned": 1, "run_conversions": 0}
    assert report["holdout"]["uplift"]["diff"] == -1.0  # tiny groups: reported, with a (wide) interval


def test_ses_delivery_through_the_topic_marks_the_message_and_counts_the_row(world: World) -> None:
    # GIVEN a reminder sent with its SES tags
    user = user_in(CART, 10, holdout=False)
    _sent_reminder(world, user, "delivered@example.com")
    [call] = world.ses_calls
    tags = {t["Name"]: t["Value"] for t in call["EmailTags"]}
    assert tags["profile"] == user_profile_id(user)
    # WHEN SES publishes the Delivery event to the feedback topic (the pump plays SNS -> Lambda)
    _publish(_feedback("delivery.json", "delivered@example.com", **tags))
    world.drain()
    # THEN the message record has its delivery time and the report row its delivery
    [record] = world.messages(user_profile_id(user))
    assert record["delivered_at"]
    assert _report_row(world, CART, "reminder_1")["counters"]["delivered"] == 1


def test_a_click_link_past_its_lifetime_lands_on_a_safe_page_not_the_old_url(world: World) -> None:
    # GIVEN a reminder whose click links live 90 days (the default)
    user = user_in(CART, 10, holdout=False)
    sent = _sent_reminder(world, user, "expiry@example.com")
    click = _click_paths(sent["html"])[0]
    assert _get(world, click).status_code == 302
    # WHEN the link is followed after its lifetime
    world.advance(days=90)
    expired = _get(world, click)
    # THEN the person gets a page that says so, with a way to the shop, and no redirect to the signed URL
    assert expired.status_code == 410
    assert "Location" not in expired.headers
    page = expired.body.decode() if isinstance(expired.body, bytes) else expired.body
    assert "expired" in page and 'href="https://shop.example"' in page
    # AND the unsubscribe link of the same mail still works
    assert _get(world, _unsubscribe_path(sent)).status_code == 200


def test_confirmation_mails_to_one_address_are_limited_to_three_a_day(world: World) -> None:
    for attempt in range(20):
        response = world.h.post("/v1/subscribe", {"email": "bomb@example.com", "anonymousId": f"a-{attempt}"})
        assert response.status_code == 200, response.body  # the same answer: the limit reveals nothing
    world.drain()

    confirmations = [m for m in world.outbox() if m["subject"] == "Please confirm your subscription"]
    assert len(confirmations) == 3


def test_a_confirmed_address_becomes_the_persons_even_when_a_browser_only_claimed_it(world: World) -> None:
    from chalicelib.bootstrap import get_source_registry

    get_source_registry().upsert_source("footer-form", "public-key", ["https://shop.example"], kind="client")
    auth = "Basic " + __import__("base64").b64encode(b"public-key:").decode()
    body = {"email": "claimed@example.com", "anonymousId": "form-visitor", "source": "footer"}
    response = world.h.post("/v1/subscribe", body, auth=False, headers={"Authorization": auth})
    assert response.status_code == 200, response.body
    world.drain()
    before = world.h.json(world.h.admin("/admin/profiles?anonymous_id=form-visitor"))["profile"]
    assert before["email"] is None and before["traits"]["claimed_email"] == "claimed@example.com"

    [mail] = world.outbox()
    [path] = re.findall(r"https://shop\.example(/confirm/[A-Za-z0-9._-]+)", mail["text"])
    world.h.client.http.post(path, body="", headers={"Content-Type": "application/x-www-form-urlencoded"})
    world.drain()

    after = world.h.json(world.h.admin("/admin/profiles?anonymous_id=form-visitor"))["profile"]
    assert after["email"] == "claimed@example.com"
    assert after["consent"]["email"]["status"] == "opted_in"
