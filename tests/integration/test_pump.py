"""local.pump delivers moto streams, queues, topics and schedules to Chalice handlers the way Lambda does."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice import Chalice, Rate
from chalice.app import DynamoDBEvent, SNSEvent, SQSEvent
from moto import mock_aws

from chalicelib.shared.clock import FakeClock
from local.provision import make_client as _make_client
from local.provision import provision
from local.pump import PumpDidNotSettle, Schedule, StreamPump, table_from_stream_arn

_clients: dict[str, Any] = {}


def make_client(service: str) -> Any:
    """Clients are cached per test: creating one costs ~0.1 s, and handlers here call it per record."""
    if service not in _clients:
        _clients[service] = _make_client(service)
    return _clients[service]


PLACEHOLDER = "arn:aws:dynamodb:us-east-1:123456789012:table/{}/stream/2026-01-01T00:00:00.000"


def _table(name: str, view: str = "NEW_IMAGE") -> dict[str, Any]:
    return {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "TableName": name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "StreamSpecification": {"StreamViewType": view},
        },
    }


TEMPLATE = {
    "Resources": {
        "A": _table("pump-a"),
        "B": _table("pump-b", "NEW_AND_OLD_IMAGES"),
        "Jobs": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "pump-jobs"}},
        "News": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "pump-news"}},
    }
}


class Recorder:
    """A throwaway app whose handlers record what they get and fail on demand."""

    def __init__(self, batch_size: int = 3) -> None:
        self.app = Chalice(app_name="pumptest")
        self.a_events: list[dict[str, Any]] = []
        self.b_keys: list[str] = []
        self.jobs: list[dict[str, Any]] = []
        self.news: list[str] = []
        self.ticks: list[dict[str, Any]] = []
        self.fail_keys: dict[str, int] = {}  # key -> how many more deliveries must fail
        self.raise_once = False
        app = self.app

        @app.on_dynamodb_record(stream_arn=PLACEHOLDER.format("pump-a"), batch_size=batch_size, name="on_a")
        def on_a(event: DynamoDBEvent) -> dict[str, Any]:
            self.a_events.append(event.to_dict())
            if self.raise_once:
                self.raise_once = False
                raise RuntimeError("boom")
            failures = []
            for record in event:
                key = record.keys["pk"]["S"]
                if self.fail_keys.get(key, 0) > 0:
                    self.fail_keys[key] -= 1
                    failures.append({"itemIdentifier": record.sequence_number})
                elif not failures:  # like powertools: only successes before the first failure take effect
                    make_client("dynamodb").put_item(TableName="pump-b", Item={"pk": {"S": key}})
            return {"batchItemFailures": failures}

        @app.on_dynamodb_record(stream_arn=PLACEHOLDER.format("pump-b"), batch_size=100, name="on_b")
        def on_b(event: DynamoDBEvent) -> None:
            self.b_keys.extend(r.keys["pk"]["S"] for r in event)

        @app.on_sqs_message(queue="pump-jobs", batch_size=4, name="on_jobs")
        def on_jobs(event: SQSEvent) -> dict[str, Any]:
            failures = []
            for record in event:
                raw = record.to_dict()
                self.jobs.append(raw)
                if record.body.startswith("bad"):
                    failures.append({"itemIdentifier": raw["messageId"]})
            return {"batchItemFailures": failures}

        @app.on_sns_message(topic="pump-news", name="on_news")
        def on_news(event: SNSEvent) -> None:
            self.news.append(f"{event.subject}:{event.message}")

        @app.schedule(Rate(1, unit=Rate.HOURS), name="hourly")
        def hourly(event: Any) -> None:
            self.ticks.append(event.to_dict())


@pytest.fixture
def moto() -> Any:
    _clients.clear()
    with mock_aws():
        provision(template=TEMPLATE)
        yield
    _clients.clear()


@pytest.fixture
def rec(moto: Any) -> Recorder:
    return Recorder()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 10, 30, tzinfo=UTC))


@pytest.fixture
def pump(rec: Recorder, clock: FakeClock) -> StreamPump:  # overrides the shared fixture: this app, this clock
    return StreamPump(rec.app, clock=clock.now)


def put(*keys: str, table: str = "pump-a") -> None:
    ddb = make_client("dynamodb")
    for key in keys:
        ddb.put_item(TableName=table, Item={"pk": {"S": key}, "blob": {"B": b"\x00\x01"}})


def delivered_keys(events: list[dict[str, Any]]) -> list[list[str]]:
    return [[r["dynamodb"]["Keys"]["pk"]["S"] for r in e["Records"]] for e in events]


# --- DynamoDB streams -----------------------------------------------------------------------------------------------


def test_stream_records_arrive_in_lambda_shape_in_batches(rec, pump):
    put("k1", "k2", "k3", "k4")

    delivered = pump.pump_once()

    assert delivered == 4 + 4  # stream A, then in the same round the four items on_a wrote to stream B
    assert delivered_keys(rec.a_events) == [["k1", "k2", "k3"], ["k4"]]
    record = rec.a_events[0]["Records"][0]
    stream_arn = make_client("dynamodb").describe_table(TableName="pump-a")["Table"]["LatestStreamArn"]
    assert record["eventSourceARN"] == stream_arn
    assert record["eventName"] == "INSERT"
    assert record["awsRegion"] == "us-east-1"
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert record["dynamodb"]["StreamViewType"] == "NEW_IMAGE"
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": "AAE="}  # base64, as Lambda sends binary
    json.dumps(rec.a_events)  # the whole event is JSON, as Lambda's is


def test_lambda_shaped_records_parse_with_chalice_and_powertools(rec, pump):
    from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
    from aws_lambda_powertools.utilities.parser import parse
    from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel

    put("k1")
    pump.pump_once()
    event = rec.a_events[0]

    chalice_record = next(iter(DynamoDBEvent(event, None)))
    assert chalice_record.table_name == "pump-a"
    assert chalice_record.timestamp.year >= 2024
    powertools_record = next(DynamoDBStreamEvent(event).records)
    assert powertools_record.dynamodb.keys == {"pk": "k1"}
    assert parse(event=event, model=DynamoDBStreamModel).Records[0].dynamodb.Keys == {"pk": "k1"}


def test_a_reported_failure_is_redelivered_from_the_lowest_failed_sequence_number(rec, pump):
    put("k1", "k2", "k3")
    rec.fail_keys = {"k2": 1}

    pump.drain()

    # k1 succeeded and was checkpointed; the retry starts at k2 and includes k3 again, like Lambda's.
    assert delivered_keys(rec.a_events) == [["k1", "k2", "k3"], ["k2", "k3"]]
    assert sorted(rec.b_keys) == ["k1", "k2", "k3"]
    assert pump.dead_letters == []


def test_a_poison_record_is_dead_lettered_after_bounded_retries_and_the_shard_moves_on(rec, pump):
    put("k1", "poison", "k3")
    rec.fail_keys = {"poison": 99}

    pump.drain()

    assert sum(keys.count("poison") for keys in delivered_keys(rec.a_events)) == 1 + 3
    assert [d.record["dynamodb"]["Keys"]["pk"]["S"] for d in pump.dead_letters] == ["poison"]
    assert pump.dead_letters[0].source == "on_a"
    assert sorted(rec.b_keys) == ["k1", "k3"]


def test_an_exception_retries_the_whole_batch(rec, pump):
    put("k1", "k2")
    rec.raise_once = True

    pump.drain()

    assert delivered_keys(rec.a_events) == [["k1", "k2"], ["k1", "k2"]]
    assert len(pump.errors) == 1
    assert sorted(rec.b_keys) == ["k1", "k2"]


def test_drain_follows_handlers_that_write_to_other_streams(rec, pump):
    put("k1", "k2")

    total = pump.drain()

    assert total == 4  # two on stream A, then the two items they wrote, on stream B
    assert sorted(rec.b_keys) == ["k1", "k2"]
    assert pump.pump_once() == 0


def test_records_written_later_are_delivered_once(rec, pump):
    put("k1")
    pump.drain()
    put("k2")
    pump.drain()

    assert delivered_keys(rec.a_events) == [["k1"], ["k2"]]


def test_drain_raises_when_a_handler_feeds_its_own_stream(moto):
    app = Chalice(app_name="loop")

    @app.on_dynamodb_record(stream_arn=PLACEHOLDER.format("pump-a"), name="loop")
    def loop(event: DynamoDBEvent) -> None:
        for record in event:
            put(record.keys["pk"]["S"] + "+")

    put("k")
    with pytest.raises(PumpDidNotSettle):
        StreamPump(app).drain(max_rounds=5)


def test_a_missing_table_is_waited_for_and_a_recreated_one_is_read_from_its_new_stream(rec, pump):
    make_client("dynamodb").delete_table(TableName="pump-a")
    put("b1", table="pump-b")
    pump.drain()
    assert rec.b_keys == ["b1"]

    provision(template=TEMPLATE)
    put("k1")
    pump.drain()

    assert delivered_keys(rec.a_events) == [["k1"]]
    assert rec.b_keys == ["b1", "k1"]


def test_table_name_is_read_from_the_placeholder_arn():
    assert table_from_stream_arn(PLACEHOLDER.format("one2one-events")) == "one2one-events"


# --- SQS ------------------------------------------------------------------------------------------------------------


def test_queue_messages_are_delivered_deleted_and_failures_retried_then_dead_lettered(rec, pump):
    sqs = make_client("sqs")
    url = sqs.get_queue_url(QueueName="pump-jobs")["QueueUrl"]
    for body in ["one", "two", "bad", "three", "four"]:
        sqs.send_message(
            QueueUrl=url, MessageBody=body, MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}}
        )

    pump.drain()

    bodies = [j["body"] for j in rec.jobs]
    assert sorted(b for b in bodies if b != "bad") == ["four", "one", "three", "two"]  # each good one exactly once
    assert bodies.count("bad") == 1 + 3
    assert [d.record["body"] for d in pump.dead_letters] == ["bad"]
    first = rec.jobs[0]
    assert first["eventSource"] == "aws:sqs"
    assert first["eventSourceARN"].endswith(":pump-jobs")
    assert first["messageAttributes"]["k"]["stringValue"] == "v"
    assert len({j["messageId"] for j in rec.jobs if j["body"] != "bad"}) == 4
    sqs_attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert sqs_attributes["ApproximateNumberOfMessages"] == "0"
    assert sqs_attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


# --- SNS ------------------------------------------------------------------------------------------------------------


def test_topic_notifications_reach_the_sns_handler(rec, pump):
    pump.pump_once()  # subscribes the local buffer queue to the topic
    topic = make_client("sns").create_topic(Name="pump-news")["TopicArn"]
    make_client("sns").publish(TopicArn=topic, Message="hello", Subject="greeting")

    pump.drain()

    assert rec.news == ["greeting:hello"]


# --- schedules ------------------------------------------------------------------------------------------------------


def test_schedules_fire_when_the_clock_passes_their_rate_and_coalesce_missed_ticks(rec, pump, clock):
    pump.pump_once()
    clock.advance(timedelta(minutes=59))
    pump.pump_once()
    assert rec.ticks == []

    clock.advance(timedelta(minutes=1))
    pump.pump_once()
    assert len(rec.ticks) == 1
    assert rec.ticks[0]["detail-type"] == "Scheduled Event"
    assert rec.ticks[0]["time"] == "2026-03-02T11:30:00Z"

    clock.advance(timedelta(days=1))
    pump.drain()
    assert len(rec.ticks) == 2


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("rate(5 minutes)", "2026-03-02T10:30:00", "2026-03-02T10:35:00"),
        ("cron(0 3 * * ? *)", "2026-03-02T10:30:00", "2026-03-03T03:00:00"),
        ("cron(15,45 * * * ? *)", "2026-03-02T10:30:00", "2026-03-02T10:45:00"),
        ("cron(0 9 ? * MON-FRI *)", "2026-03-06T10:00:00", "2026-03-09T09:00:00"),  # Friday -> Monday
        ("cron(0/20 8-9 1 JAN ? *)", "2026-03-02T00:00:00", "2027-01-01T08:00:00"),
    ],
)
def test_schedule_next_due(expression, after, expected):
    when = datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert Schedule(expression).next_after(when) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


# --- running --------------------------------------------------------------------------------------------------------


def test_run_forever_delivers_in_the_background_until_stopped(rec, pump):
    stop = threading.Event()
    thread = threading.Thread(target=pump.run_forever, args=(stop, 0.01), daemon=True)
    thread.start()
    try:
        put("k1")
        for _ in range(300):
            if rec.b_keys:
                break
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(timeout=5)

    assert rec.b_keys == ["k1"]
    assert not thread.is_alive()


def test_the_real_apps_event_sources_are_all_pumped(chalice_app):
    pump = StreamPump(chalice_app)

    assert {s.name for s in pump.sources} == {c.name for c in chalice_app.event_sources}
    assert pump.drain() == 0  # nothing written yet: a quiet, provisioned stack settles at once
