"""The local event pump: plays Lambda's event-source mappings (DynamoDB streams, SQS, SNS, schedules) against moto.

`chalice local` and `chalice.test.Client` serve HTTP routes only, so this module reads moto's streams and queues, builds
events in the exact shape Lambda delivers, and calls the app's handlers in-process with the same retry semantics we
configure in AWS (ReportBatchItemFailures, bounded retries, then the on-failure destination, here `pump.dead_letters`).

    pump = StreamPump(app)      # app: the Chalice app (app.app)
    pump.drain()                # deliver until every stream and queue is quiet (handlers write to other streams)
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local.provision import ACCOUNT_ID, make_client

log = logging.getLogger(__name__)

DEFAULT_MAX_RETRIES = 3
# Batches one source may deliver per round: keeps a round finite when a handler feeds its own stream or queue.
DEFAULT_MAX_BATCHES_PER_ROUND = 20


@dataclass
class DeadLetter:
    """A record given up on after its retries: on AWS it would go to the mapping's on-failure destination."""

    source: str
    kind: str
    record: dict[str, Any]
    reason: str


class PumpDidNotSettle(RuntimeError):
    """`drain` kept finding work after `max_rounds` (usually a handler that feeds its own stream)."""


class _Source:
    """One event-source mapping. `poll` delivers what is available and returns the number of records delivered."""

    kind = "?"

    def __init__(self, pump: StreamPump, config: Any) -> None:
        self.pump = pump
        self.config = config
        self.name: str = config.name

    def poll(self) -> int:
        raise NotImplementedError

    def invoke(self, event: dict[str, Any]) -> tuple[Any, BaseException | None]:
        """Call the handler as Lambda would; an exception is returned (and logged), never raised into the pump."""
        handler = self.pump.app.handler_map[self.name]
        try:
            return handler(event, self.pump.lambda_context(self.name)), None
        except Exception as error:  # Lambda reports the error and retries: so do we
            log.exception("pump: %s handler %s raised", self.kind, self.name)
            self.pump.errors.append(error)
            return None, error


def _failed_ids(response: Any, error: BaseException | None, all_ids: list[str]) -> list[str]:
    """The identifiers to retry: an exception or a malformed/unknown identifier is a total failure, as in Lambda."""
    if error is not None:
        return list(all_ids)
    if not isinstance(response, dict) or not response.get("batchItemFailures"):
        return []
    failed = []
    for failure in response["batchItemFailures"]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in all_ids:
            return list(all_ids)
        failed.append(identifier)
    return failed


# --- DynamoDB streams -----------------------------------------------------------------------------------------------


def table_from_stream_arn(arn: str) -> str:
    """`arn:aws:dynamodb:r:a:table/<name>/stream/<label>` -> `<name>`."""
    match = re.search(r":table/([^/]+)", arn)
    if not match:
        raise ValueError(f"not a DynamoDB stream ARN: {arn}")
    return match.group(1)


def _jsonable(value: Any) -> Any:
    """boto3 decodes binary attributes to bytes; Lambda delivers them base64-encoded inside JSON."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_jsonable(v) for v in value]
    return value


def lambda_dynamodb_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A moto `GetRecords` record -> the record Lambda hands to a function (`eventSourceARN`, epoch-seconds time)."""
    out = _jsonable({k: v for k, v in record.items() if k != "dynamodb"})
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        # Lambda sends whole epoch seconds as a JSON number (DynamoDB rounds down to the second).
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    out["dynamodb"] = _jsonable(dynamodb)
    out["eventSourceARN"] = stream_arn
    out.setdefault("awsRegion", region)
    out.setdefault("eventSource", "aws:dynamodb")
    return out


@dataclass
class _Shard:
    iterator: str | None
    last_sequence: str | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)  # fetched, not yet acknowledged (Lambda's checkpoint)
    attempts: dict[str, int] = field(default_factory=dict)  # sequence number -> failed deliveries
    closed: bool = False


class _DynamoDBSource(_Source):
    kind = "dynamodb"

    def __init__(self, pump: StreamPump, config: Any) -> None:
        super().__init__(pump, config)
        self.table = table_from_stream_arn(config.stream_arn)
        self.batch_size = max(1, min(int(config.batch_size or 100), 1000))  # GetRecords returns at most 1000
        self.stream_arn: str | None = None
        self.shards: dict[str, _Shard] = {}
        self._warned = False

    def _refresh(self) -> bool:
        ddb = self.pump.client("dynamodb")
        try:
            arn = ddb.describe_table(TableName=self.table)["Table"].get("LatestStreamArn")
        except ddb.exceptions.ResourceNotFoundException:
            arn = None
        if not arn:
            if not self._warned:
                log.warning("pump: %s waits for table %s (missing or without a stream)", self.name, self.table)
                self._warned = True
            return False
        if arn != self.stream_arn:  # first time, or the table was re-created: start that stream from its horizon
            self.stream_arn, self.shards = arn, {}
        streams = self.pump.client("dynamodbstreams")
        kwargs: dict[str, Any] = {"StreamArn": arn}
        while True:
            description = streams.describe_stream(**kwargs)["StreamDescription"]
            for shard in description["Shards"]:
                if shard["ShardId"] not in self.shards:
                    iterator = streams.get_shard_iterator(
                        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                    )["ShardIterator"]
                    self.shards[shard["ShardId"]] = _Shard(iterator)
            if not description.get("LastEvaluatedShardId"):
                return True
            kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]

    def poll(self) -> int:
        if not self._refresh():
            return 0
        return sum(self._poll_shard(shard_id, shard) for shard_id, shard in list(self.shards.items()))

    def _fetch(self, shard_id: str, shard: _Shard) -> None:
        if shard.closed or len(shard.pending) >= self.batch_size:
            return
        streams = self.pump.client("dynamodbstreams")
        if shard.iterator is None:
            kind = "AFTER_SEQUENCE_NUMBER" if shard.last_sequence else "TRIM_HORIZON"
            extra = {"SequenceNumber": shard.last_sequence} if shard.last_sequence else {}
            shard.iterator = streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=kind, **extra
            )["ShardIterator"]
        try:
            page = streams.get_records(ShardIterator=shard.iterator, Limit=self.batch_size - len(shard.pending))
        except streams.exceptions.ExpiredIteratorException:
            shard.iterator = None  # re-open after the last record we fetched
            return self._fetch(shard_id, shard)
        shard.iterator = page.get("NextShardIterator")
        shard.closed = shard.iterator is None
        records = [lambda_dynamodb_record(r, self.stream_arn or "", self.pump.region) for r in page["Records"]]
        if records:
            shard.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
            shard.pending.extend(records)

    def _poll_shard(self, shard_id: str, shard: _Shard) -> int:
        delivered = 0
        for _ in range(self.pump.max_batches_per_round):
            self._fetch(shard_id, shard)
            if not shard.pending:
                return delivered
            batch = shard.pending[: self.batch_size]
            ids = [r["dynamodb"]["SequenceNumber"] for r in batch]
            response, error = self.invoke({"Records": batch})
            delivered += len(batch)
            failed = _failed_ids(response, error, ids)
            if not failed:
                del shard.pending[: len(batch)]
                continue
            # Lambda checkpoints before the lowest failed sequence number and retries the batch from there.
            lowest = min(failed, key=int)
            position = ids.index(lowest)
            del shard.pending[:position]
            attempts = shard.attempts.pop(lowest, 0) + 1
            if attempts > self.pump.max_retries:
                reason = repr(error) if error else "reported in batchItemFailures"
                self.pump.dead_letter(self, shard.pending.pop(0), reason)
            else:
                shard.attempts[lowest] = attempts
            return delivered  # retry in the next round, as Lambda retries after a back-off
        return delivered


# --- SQS ------------------------------------------------------------------------------------------------------------


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def lambda_sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A `ReceiveMessage` message -> the record Lambda hands to a function."""
    attributes = {k: str(v) for k, v in message.get("Attributes", {}).items()}
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": _jsonable(value.get("BinaryValue")),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": _jsonable(value.get("BinaryListValues", [])),
            "dataType": value["DataType"],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody") or _md5(message["Body"]),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class _QueueSource(_Source):
    """Receives from an SQS queue, deletes what succeeded, makes failures visible again for the next round."""

    kind = "sqs"
    max_batch = 10_000

    def __init__(self, pump: StreamPump, config: Any) -> None:
        super().__init__(pump, config)
        self.batch_size = max(1, min(int(getattr(config, "batch_size", 10) or 10), self.max_batch))
        self.queue_url: str | None = None
        self.queue_arn = ""
        self.redrive = False
        self._warned = False

    def queue_name(self) -> str:
        return self.config.queue or self.config.queue_arn.rsplit(":", 1)[-1]

    def _resolve(self) -> bool:
        if self.queue_url:
            return True
        sqs = self.pump.client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=self.queue_name())["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            if not self._warned:
                log.warning("pump: %s waits for queue %s", self.name, self.queue_name())
                self._warned = True
            return False
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy"])["Attributes"]
        self.queue_url, self.queue_arn = url, attributes["QueueArn"]
        # With a redrive policy the queue itself moves poison messages to its DLQ (moto does this on receive).
        self.redrive = bool(attributes.get("RedrivePolicy"))
        return True

    def _receive(self) -> list[dict[str, Any]]:
        sqs = self.pump.client("sqs")
        messages: list[dict[str, Any]] = []
        while len(messages) < self.batch_size:
            page = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not page:
                break
            messages.extend(page)
        return messages

    def to_records(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [lambda_sqs_record(m, self.queue_arn, self.pump.region) for m in messages]

    def identifier(self, record: dict[str, Any]) -> str:
        return record["messageId"]

    def poll(self) -> int:
        if not self._resolve():
            return 0
        sqs = self.pump.client("sqs")
        delivered = 0
        for _ in range(self.pump.max_batches_per_round):
            messages = self._receive()
            if not messages:
                break
            records = self.to_records(messages)
            ids = [self.identifier(r) for r in records]
            response, error = self.invoke({"Records": records})
            delivered += len(records)
            failed = set(_failed_ids(response, error, ids))
            for message, record, identifier in zip(messages, records, ids, strict=True):
                receive_count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                if identifier not in failed:
                    sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                elif not self.redrive and receive_count > self.pump.max_retries:
                    self.pump.dead_letter(self, record, repr(error) if error else "reported in batchItemFailures")
                    sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                else:  # visible again at once: the local stand-in for the visibility timeout running out
                    sqs.change_message_visibility(
                        QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
            if failed:
                return delivered  # retry next round
        return delivered


# --- SNS (through a local SQS queue subscribed to the topic) --------------------------------------------------------


class _TopicSource(_QueueSource):
    """SNS pushes to Lambda; locally a queue subscribed to the topic buffers notifications until the next round."""

    kind = "sns"

    def __init__(self, pump: StreamPump, config: Any) -> None:
        super().__init__(pump, config)
        self.batch_size = 1  # SNS invokes a function with one record per notification
        self.topic_arn = ""

    def queue_name(self) -> str:
        return f"one2one-local-sns-{self.name}"[:80]

    def _resolve(self) -> bool:
        if self.queue_url:
            return True
        sns = self.pump.client("sns")
        topic = self.config.topic
        if not topic.startswith("arn:"):
            arns = [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]]
            matches = [arn for arn in arns if arn.rsplit(":", 1)[-1] == topic]
            if not matches:
                if not self._warned:
                    log.warning("pump: %s waits for topic %s", self.name, topic)
                    self._warned = True
                return False
            topic = matches[0]
        sqs = self.pump.client("sqs")
        url = sqs.create_queue(QueueName=self.queue_name())["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        self.queue_url, self.queue_arn, self.topic_arn = url, arn, topic
        return True

    def to_records(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        records = []
        for message in messages:
            note = json.loads(message["Body"])
            records.append(
                {
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": f"{self.topic_arn}:{message['MessageId']}",
                    "Sns": {
                        "Type": note.get("Type", "Notification"),
                        "MessageId": note.get("MessageId", message["MessageId"]),
                        "TopicArn": note.get("TopicArn", self.topic_arn),
                        "Subject": note.get("Subject"),
                        "Message": note.get("Message", ""),
                        "Timestamp": note.get("Timestamp"),
                        "SignatureVersion": note.get("SignatureVersion", "1"),
                        "Signature": note.get("Signature", ""),
                        "SigningCertUrl": note.get("SigningCertURL", ""),
                        "UnsubscribeUrl": note.get("UnsubscribeURL", ""),
                        "MessageAttributes": note.get("MessageAttributes", {}),
                    },
                }
            )
        return records

    def identifier(self, record: dict[str, Any]) -> str:
        return record["Sns"]["MessageId"]

    def invoke(self, event: dict[str, Any]) -> tuple[Any, BaseException | None]:
        _, error = super().invoke(event)
        return None, error  # SNS ignores the return value; only an exception means a retry


# --- schedules ------------------------------------------------------------------------------------------------------

_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # AWS cron: 1 = Sunday
_NAMES = {name: i for names in (_MONTHS, _DAYS) for i, name in enumerate(names, 1)}


def _cron_field(spec: str, low: int, high: int) -> set[int] | None:
    """One AWS cron field -> the allowed values (None = any). `L`, `W` and `#` are not supported locally."""
    if spec in ("*", "?"):
        return None
    values: set[int] = set()
    for part in spec.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-")
            start, end = _NAMES.get(a) or int(a), _NAMES.get(b) or int(b)
        else:
            start = _NAMES.get(base) or int(base)
            end = high if step else start
        values.update(range(start, end + 1, int(step or 1)))
    return values


class Schedule:
    """When a `rate(...)` or `cron(...)` schedule expression is next due after a given time (UTC)."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.period: timedelta | None = None
        rate = _RATE.fullmatch(expression.strip())
        if rate:
            unit = rate.group(2).rstrip("s") + "s"
            self.period = timedelta(**{unit: int(rate.group(1))})
            return
        if not (expression.startswith("cron(") and expression.endswith(")")):
            raise ValueError(f"unsupported schedule expression: {expression}")
        fields = expression[5:-1].split()
        if len(fields) != 6 or any(c in expression for c in "LW#"):
            raise ValueError(f"unsupported cron expression locally: {expression}")
        minute, hour, dom, month, dow, year = fields
        self.minutes = _cron_field(minute, 0, 59)
        self.hours = _cron_field(hour, 0, 23)
        self.dom = _cron_field(dom, 1, 31)
        self.months = _cron_field(month, 1, 12)
        self.dow = _cron_field(dow, 1, 7)  # AWS: 1 = Sunday
        self.years = _cron_field(year, 1970, 2199)

    def next_after(self, when: datetime) -> datetime:
        if self.period is not None:
            return when + self.period
        start = when.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        for day_offset in range(0, 366 * 4):
            day = (start + timedelta(days=day_offset)).date()
            aws_dow = (day.isoweekday() % 7) + 1
            checks = ((self.dom, day.day), (self.months, day.month), (self.dow, aws_dow), (self.years, day.year))
            if not all(allowed is None or value in allowed for allowed, value in checks):
                continue
            for hour in sorted(self.hours) if self.hours is not None else range(24):
                for minute in sorted(self.minutes) if self.minutes is not None else range(60):
                    candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                    if candidate >= start:
                        return candidate
        raise ValueError(f"{self.expression} never fires")


class _ScheduleSource(_Source):
    """Fires a scheduled handler when the clock passes its next due time.

    Missed periods are coalesced into one invocation (the local clock can jump by days; replaying every tick would be
    noise, and our scheduled jobs work from the clock's `now`, not from how many times they ran).
    """

    kind = "schedule"

    def __init__(self, pump: StreamPump, config: Any) -> None:
        super().__init__(pump, config)
        expression = config.schedule_expression
        self.schedule = Schedule(expression if isinstance(expression, str) else expression.to_string())
        self.next_due: datetime | None = None

    def poll(self) -> int:
        now = self.pump.now()
        if self.next_due is None:
            self.next_due = self.schedule.next_after(now)
            return 0
        if now < self.next_due:
            return 0
        rule_arn = f"arn:aws:events:{self.pump.region}:{ACCOUNT_ID}:rule/{self.pump.function_name(self.name)}-event"
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.pump.region,
            "resources": [rule_arn],
            "detail": {},
        }
        _, error = self.invoke(event)
        if error is not None:
            self.pump.dead_letter(self, event, repr(error))  # EventBridge retries; locally we just keep the record
        self.next_due = self.schedule.next_after(max(now, self.next_due))
        return 1


# --- the pump -------------------------------------------------------------------------------------------------------


class StreamPump:
    """Delivers DynamoDB stream, SQS, SNS and schedule events to a Chalice app's handlers, Lambda-style.

    Parameters
    ----------
    app: the Chalice app whose `event_sources` and `handler_map` are pumped.
    endpoint_url: moto server URL; None means in-process `mock_aws` (or `AWS_ENDPOINT_URL`).
    region: defaults to `AWS_DEFAULT_REGION` or us-east-1.
    clock: returns "now" for schedules; defaults to `chalicelib.shared.clock.get_clock().now` read at each round.
    max_retries: deliveries of a failing record after the first, before it becomes a `DeadLetter`.
    max_batches_per_round: per source and round, so that `pump_once` always returns.
    ses_events: also publish SES's Delivery / Bounce / Complaint events for every mail sent (`local/ses_events.py`).

    Example
    -------
    >>> pump = StreamPump(app)
    >>> client.http.post("/v1/track", ...)
    >>> pump.drain()          # events stream -> fold -> profiles stream -> ...
    """

    def __init__(
        self,
        app: Any,
        endpoint_url: str | None = None,
        region: str | None = None,
        clock: Callable[[], datetime] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_batches_per_round: int = DEFAULT_MAX_BATCHES_PER_ROUND,
        stage: str | None = None,
        ses_events: bool = False,
    ) -> None:
        self.app = app
        self.endpoint_url = endpoint_url
        self.region = region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        self._clock = clock
        self.max_retries = max_retries
        self.max_batches_per_round = max_batches_per_round
        self.stage = stage or os.environ.get("ONE2ONE_STAGE", "dev")
        self.dead_letters: list[DeadLetter] = []
        self.errors: list[BaseException] = []
        self.rounds = 0
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.sources: list[_Source] = [self._source(config) for config in app.event_sources]
        self.sources = [s for s in self.sources if s is not None]
        if ses_events:  # the local stack: SES event publishing for the mails moto accepted (local/ses_events.py)
            from local.ses_events import LocalSesEvents

            self.sources.insert(0, LocalSesEvents(self))

    def _source(self, config: Any) -> Any:
        from chalice.app import DynamoDBEventConfig, ScheduledEventConfig, SNSEventConfig, SQSEventConfig

        if isinstance(config, DynamoDBEventConfig):
            return _DynamoDBSource(self, config)
        if isinstance(config, SQSEventConfig):
            return _QueueSource(self, config)
        if isinstance(config, SNSEventConfig):
            return _TopicSource(self, config)
        if isinstance(config, ScheduledEventConfig):
            return _ScheduleSource(self, config)
        log.info("pump: %s (%s) is not pumped locally", config.name, type(config).__name__)
        return None

    # -- helpers used by sources

    def skip_existing_records(self) -> int:
        """Treat every record already in the tables' streams as delivered (the local stack restored its tables from
        a snapshot: those INSERTs are old news, folding or sending them again would double count). Returns how many
        records were skipped."""
        skipped = 0
        for source in self.sources:
            if not isinstance(source, _DynamoDBSource) or not source._refresh():
                continue
            for shard_id, shard in list(source.shards.items()):
                while not shard.closed:
                    source._fetch(shard_id, shard)
                    if not shard.pending:
                        break
                    skipped += len(shard.pending)
                    shard.pending.clear()
        return skipped

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = make_client(service, self.endpoint_url, self.region)
        return self._clients[service]

    def now(self) -> datetime:
        if self._clock is not None:
            return self._clock()
        from chalicelib.shared.clock import get_clock

        return get_clock().now()

    def function_name(self, handler_name: str) -> str:
        return f"{self.app.app_name}-{self.stage}-{handler_name}"

    def lambda_context(self, handler_name: str) -> Any:
        from chalice.local import LambdaContext

        return LambdaContext(self.function_name(handler_name), memory_size=256, max_runtime_ms=60_000)

    def dead_letter(self, source: _Source, record: dict[str, Any], reason: str) -> None:
        log.error(
            "pump: gave up on a %s record for %s after %d retries: %s",
            source.kind,
            source.name,
            self.max_retries,
            reason,
        )
        self.dead_letters.append(DeadLetter(source.name, source.kind, record, reason))

    # -- public API

    def pump_once(self) -> int:
        """One round over every source; returns the number of records delivered (retries included)."""
        with self._lock:
            self.rounds += 1
            return sum(source.poll() for source in self.sources)

    def drain(self, max_rounds: int = 50) -> int:
        """Pump until a round delivers nothing (handlers feed other streams); raise if it never settles."""
        total = 0
        for _ in range(max_rounds):
            delivered = self.pump_once()
            if delivered == 0:
                return total
            total += delivered
        raise PumpDidNotSettle(f"still delivering after {max_rounds} rounds ({total} records)")

    def run_forever(self, stop_event: threading.Event, interval: float = 0.1) -> None:
        """Pump until `stop_event` is set (the local stack runs this in a thread); errors are logged, not fatal."""
        while not stop_event.is_set():
            try:
                delivered = self.pump_once()
            except Exception:  # a moto hiccup must not kill the local stack's pump
                log.exception("pump: round failed")
                delivered = 0
            if delivered == 0:
                stop_event.wait(interval)
