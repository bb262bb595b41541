"""Cart abandonment end to end: event -> fold -> profiles stream -> run -> due store -> queue -> SES, exactly once."""

from __future__ import annotations

import json

from tests.integration.scenario_support import (
    SENDER,
    World,
    user_in,
    user_profile_id,
    world_fixture,  # noqa: F401 - registers `world`
)

CART = "cart_abandonment"


def test_cart_reminder_is_sent_an_hour_later_with_unsubscribe_headers_tags_and_personal_content(world: World) -> None:
    # GIVEN a subscribed customer who adds a shirt to the cart
    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="hana@example.com")
    world.add_to_cart(user, url="https://shop.example/p/sku-1")
    world.drain()
    assert world.outbox() == []  # the run waits: nothing yet

    # WHEN an hour passes and the pump runs
    world.advance(hours=1, minutes=1)
    world.drain()

    # THEN exactly one reminder went out, personalised, with one-click unsubscribe headers
    [sent] = world.outbox()
    assert set(sent["to"]) == {"hana@example.com"}  # moto lists the Destination and the To header
    headers = sent["headers"]
    assert headers["From"] == SENDER
    unsubscribe = headers["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://shop.example/u/") and "<mailto:unsubscribe@" in unsubscribe
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Hana" in sent["html"] and "Linen Shirt" in sent["html"]
    assert "Hana" in sent["text"] and "Linen Shirt" in sent["text"]
    assert "https://shop.example/u/" in sent["text"]  # the footer link matches the header
    # AND the SES call carried the configuration set and sanitised tags naming the scenario, step and variant
    [call] = world.ses_calls
    assert call["ConfigurationSetName"] == "one2one-email"
    tags = {t["Name"]: t["Value"] for t in call["EmailTags"]}
    assert tags["scenario"] == CART and tags["step"] == "reminder_1" and tags["variant"] in ("a", "b")
    assert tags["message_id"].startswith("m")
    # AND the message record says sent, with the provider id
    [record] = world.messages(user_profile_id(user))
    assert record["status"] == "sent" and record["provider_id"] and record["variant"] == tags["variant"]


def test_order_before_the_wait_ends_cancels_the_reminder(world: World) -> None:
    # GIVEN a cart reminder waiting
    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="ken@example.com")
    world.add_to_cart(user)
    world.drain()
    # WHEN the customer orders 20 minutes later
    world.advance(minutes=20)
    world.send("/v1/track", {"userId": user, "event": "Order Completed", "properties": {"order_id": "o-1"}})
    world.drain()
    world.advance(hours=2)
    world.drain()
    # THEN no reminder is sent and the run is exited by the order
    assert world.outbox() == []
    [run] = [r for r in world.runs(user_profile_id(user)) if r["scenario_id"] == CART]
    assert run["status"] == "exited" and run["exit_reason"] == "event:Order Completed"


def test_duplicated_stream_and_queue_deliveries_send_one_email(world: World) -> None:
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import table_name
    from local.pump import lambda_dynamodb_record

    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="dup@example.com")
    world.add_to_cart(user)
    world.drain()
    # GIVEN every profiles-stream record delivered a second time (a Lambda retry of the whole batch)
    ddb, streams = client("dynamodb"), client("dynamodbstreams")
    arn = ddb.describe_table(TableName=table_name("ProfilesTable"))["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    event = {"Records": [lambda_dynamodb_record(r, arn, "us-east-1") for r in records]}
    assert world.h.app.handler_map["run_scenarios"](event, None) == {"batchItemFailures": []}
    world.drain()
    runs = [r for r in world.runs(user_profile_id(user)) if r["scenario_id"] == CART]
    assert len(runs) == 1
    # WHEN the reminder comes due and its queue message is delivered twice, in two batches
    world.advance(hours=1, minutes=1)
    run = runs[0]
    body = json.dumps({"p": run["profile_id"], "t": run["trigger_id"], "s": run["step_index"]})
    sqs_event = {"Records": [{"messageId": f"m{n}", "body": body} for n in range(2)]}
    deliver = world.h.app.handler_map["deliver_steps"]
    assert deliver(sqs_event, None) == {"batchItemFailures": []}
    assert deliver(sqs_event, None) == {"batchItemFailures": []}
    world.drain()  # the due store brings the same step once more
    # THEN one email
    assert len(world.outbox()) == 1
    assert [m["status"] for m in world.messages(user_profile_id(user))] == ["sent"]


def test_a_second_add_to_cart_while_a_run_is_active_starts_no_second_run(world: World) -> None:
    user = user_in(CART, 10, holdout=False)
    world.customer(user, email_address="twice@example.com")
    world.add_to_cart(user, "sku-1")
    world.drain()
    world.advance(minutes=5)
    world.add_to_cart(user, "sku-2", name="Canvas Tote")
    world.drain()
    world.advance(hours=1, minutes=1)
    world.drain()
    [sent] = world.outbox()
    assert "Canvas Tote" in sent["text"] and "Linen Shirt" in sent["text"]  # the cart as it is at send time
    assert len([r for r in world.runs(user_profile_id(user)) if r["scenario_id"] == CART]) == 1


def test_welcome_email_leaves_within_the_same_pump_pass_as_the_sign_up(world: World) -> None:
    import time

    # GIVEN a subscribed visitor WHEN they sign up (welcome_series: send at once, no wait)
    user = user_in("welcome_series", 0, holdout=False)
    world.customer(user, email_address="new@example.com", first_name="Sora")
    started = time.perf_counter()
    world.send("/v1/track", {"userId": user, "event": "Signed Up"})
    world.drain()
    elapsed = time.perf_counter() - started
    # THEN the welcome email is in the outbox after one drain, without any clock movement
    [sent] = world.outbox()
    assert sent["subject"] == "Welcome, Sora!"
    assert elapsed < 5, elapsed  # in-process moto; the figure is reported, the bound only catches regressions
