"""Send-time guards through the whole pipeline: every skip or deferral is recorded with its reason, nothing leaks."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.scenario_support import (
    START,
    World,
    user_in,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

CART = "cart_abandonment"


def one_record(w: World, user: str) -> dict:
    [record] = [m for m in w.messages(user_profile_id(user)) if m["scenario_id"] == CART]
    return record


def reminder_due(w: World, user: str, **customer: object) -> None:
    w.customer(user, **customer)  # type: ignore[arg-type]
    w.add_to_cart(user)
    w.drain()
    w.advance(hours=1, minutes=1)
    w.drain()


def test_quiet_hours_defer_the_reminder_to_the_morning_in_the_recipients_zone(world: World) -> None:
    # GIVEN a New York customer whose reminder comes due at 21:01 local time (02:01 UTC)
    user = user_in(CART, 10, holdout=False)
    reminder_due(world, user, email_address="ny@example.com", timezone="America/New_York")
    # THEN nothing is sent at night; the record says deferred until 08:00 New York time (13:00 UTC)
    assert world.outbox() == []
    record = one_record(world, user)
    assert record["status"] == "deferred" and record["reason"] == "quiet_hours"
    assert record["until"] == "2026-03-02T13:00:00.000Z"
    # WHEN the morning comes
    world.clock.set(START.replace(hour=13, minute=1))
    world.drain()
    # THEN the reminder goes out once, and the record keeps the deferral in its history
    assert len(world.outbox()) == 1
    record = one_record(world, user)
    assert record["status"] == "sent"
    assert [h["status"] for h in record["history"]] == ["deferred", "sending", "sent"]


def test_frequency_cap_reached_skips_with_the_reason(world: World) -> None:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name
    from chalicelib.tracking.events import iso

    # GIVEN a customer who already got the 2 marketing emails a day the config allows
    user = user_in(CART, 10, holdout=False)
    for n in range(2):
        sent_at = iso(START - timedelta(hours=n + 1))
        client("dynamodb").put_item(
            TableName=table_name("MessagesTable"),
            Item={
                "pk": {"S": f"p#{user_profile_id(user)}"},
                "sk": {"S": f"log#{sent_at}#earlier{n}"},
                "channel": {"S": "email"},
                "cost": {"N": "0.02"},
                "marketing": {"BOOL": True},
            },
        )
    # WHEN the reminder comes due 1 hour later (both earlier sends are within 24 h)
    reminder_due(world, user, email_address="capped@example.com")
    # THEN it is skipped with the cap as reason
    assert world.outbox() == []
    record = one_record(world, user)
    assert (record["status"], record["reason"]) == ("skipped", "cap_day")


def test_without_email_consent_nothing_is_sent(world: World) -> None:
    user = user_in(CART, 10, holdout=False)
    reminder_due(world, user, email_address="noconsent@example.com", subscribe=False)
    assert world.outbox() == []
    assert (one_record(world, user)["status"], one_record(world, user)["reason"]) == ("skipped", "no_consent")


def test_after_unsubscribing_nothing_is_sent(world: World) -> None:
    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="gone@example.com")
    world.advance(seconds=5)
    world.send("/v1/track", {"userId": user, "event": "Email Unsubscribed"})
    world.add_to_cart(user)
    world.drain()
    world.advance(hours=1, minutes=1)
    world.drain()
    assert world.outbox() == []
    assert one_record(world, user)["reason"] == "no_consent"


def test_holdout_members_get_nothing_but_a_holdout_record(world: World) -> None:
    # GIVEN a customer whose profile hashes into the 10 % control group
    user = user_in(CART, 10, holdout=True)
    reminder_due(world, user, email_address="control@example.com")
    # THEN no email, and the record keeps what would have happened for the lift measurement
    assert world.outbox() == []
    record = one_record(world, user)
    assert (record["status"], record["reason"]) == ("holdout", "holdout")
    [run] = [r for r in world.runs(user_profile_id(user)) if r["scenario_id"] == CART]
    assert run["holdout"] is True


def test_profile_without_email_is_skipped_no_address(world: World) -> None:
    from chalicelib.scenarios.assignment import in_holdout
    from chalicelib.tracking.identity import profile_id_for

    # GIVEN an anonymous shopper (no email, not in the control group) who adds to cart
    anon = next(f"anon-{n}" for n in range(100) if not in_holdout(CART, profile_id_for("anon", f"anon-{n}"), 10))
    world.send("/v1/track", {"anonymousId": anon, "event": "Product Added", "properties": {"product_id": "x"}})
    world.drain()
    world.advance(hours=1, minutes=1)
    world.drain()
    records = world.messages(profile_id_for("anon", anon))
    assert world.outbox() == []
    assert [(r["status"], r["reason"]) for r in records] == [("skipped", "no_address")]


def test_a_template_failing_for_one_profile_fails_only_that_send(world: World) -> None:
    from chalicelib.bootstrap import get_delivery_service
    from chalicelib.delivery import templating

    broken, fine = user_in(CART, 10, holdout=False, prefix="broken"), user_in(CART, 10, holdout=False, prefix="fine")

    def render(template_id, profile, *args, **kwargs):  # one person's data breaks the template
        if profile["profile_id"] == user_profile_id(broken):
            raise templating.TemplateRenderError(template_id, "UndefinedError: 'dict object' has no attribute 'x'")
        return templating.render(template_id, profile, *args, **kwargs)

    get_delivery_service()._renderer = render
    # GIVEN two customers with a reminder due at the same time
    for user, address in ((broken, "broken@example.com"), (fine, "fine@example.com")):
        world.customer(user, email_address=address)
        world.add_to_cart(user)
    world.drain()
    world.advance(hours=1, minutes=1)
    world.drain()
    # THEN the broken one is a failed record with the error, the other one is sent
    assert [set(m["to"]) for m in world.outbox()] == [{"fine@example.com"}]
    failed = one_record(world, broken)
    assert (failed["status"], failed["reason"]) == ("failed", "render_error") and "UndefinedError" in failed["detail"]
    assert one_record(world, fine)["status"] == "sent"


def test_mql_crossing_alerts_sales_once_on_the_sns_topic(world: World) -> None:
    import json

    from chalicelib.shared.aws import client

    # GIVEN a queue subscribed to the sales topic (as a sales tool would be)
    sns, sqs = client("sns"), client("sqs")
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":one2one-sales-alerts"))
    url = sqs.create_queue(QueueName="sales-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    # WHEN a well-fitting lead engages enough to cross the MQL threshold (fit 25 + engagement 50)
    world.customer("lead-1", email_address="ceo@acme.example", traits={"title": "ceo", "company": "Acme"})
    for n in range(2):
        world.send("/v1/track", {"userId": "lead-1", "event": "Order Completed", "properties": {"order_id": f"o{n}"}})
    world.drain()
    world.drain()
    # THEN exactly one alert reached the topic, naming the lead
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 1
    note = json.loads(received[0]["Body"])
    assert "ceo@acme.example" in note["Message"] and note["Subject"].startswith("MQL: Acme")
    record = next(m for m in world.messages(user_profile_id("lead-1")) if m["scenario_id"] == "mql_sales_alert")
    assert record["status"] == "sent" and record["channel"] == "sales_alert"
