"""The metered pipeline: real handlers on in-process moto, every AWS call a function makes metered as AWS would bill it.

    python -m bench.pipeline [--quick]      # prints one JSON document (bench/cost.py prices it)

Tracking API -> events stream (fold, daily counters, archive) -> profiles stream (segments) -> scenarios stream ->
delivery queue -> SES -> SES events topic -> feedback, driven by the local pump (local/pump.py) exactly as in
`make run`. A botocore hook on every client (`BaseClient._make_api_call`, the same seam as tests/integration/
test_policies.py) records each call with the function it ran in and turns it into billable quantities
(bench/metering.py): DynamoDB units from the items' real sizes before and after the call, in the table and in every
index `describe_table` reports at run time; S3, SQS, SNS, SES, Secrets Manager requests. Each function's invocations,
its own time and the bytes it writes to stdout/stderr (what CloudWatch Logs ingests) are measured around the handler.
Nothing here knows what the product writes: a new call, index or log line shows up in the bill on the next run, and a
call with no price stops the run naming it (`UnpricedCall`).
"""

from __future__ import annotations

import contextvars
import io
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import metering, workload

ROOT = Path(__file__).resolve().parent.parent
BATCH_SIZE = 20
SIGNUP_EVERY = 10  # realistic mix: one profile in ten signs up (identify with email, Email Subscribed, Signed Up)
EVENTS_PER_PROFILE = 5  # realistic mix: events of one visitor in one stream batch window
HISTORY_EVENTS = 6  # realistic mix: events each profile already has (returning visitors), folded before metering

# Calls that carry no request charge (control plane, or reads Lambda's event-source mappings make for free).
FREE_CALLS = {
    ("dynamodb", "DescribeTable"),
    ("dynamodb", "ListTables"),
    ("dynamodb", "DescribeTimeToLive"),
    ("dynamodbstreams", "DescribeStream"),
    ("dynamodbstreams", "GetShardIterator"),
    ("dynamodbstreams", "GetRecords"),
    ("dynamodbstreams", "ListStreams"),
    ("s3", "DeleteObject"),  # DELETE requests are free
    ("sesv2", "GetAccount"),  # SES account/identity reads are not billed
    ("ses", "GetSendQuota"),
    ("sesv2", "CreateEmailIdentity"),
    ("sts", "GetCallerIdentity"),
}
# What AWS bills of the pollers' work: SQS receives that return messages and their deletes; SES's event publishing.
ESM_BILLED = {("sqs", "ReceiveMessage"), ("sqs", "DeleteMessageBatch"), ("sqs", "DeleteMessage"), ("sns", "Publish")}
# Calls made on the functions' behalf: Lambda's pollers and SES's event publishing (the local pump plays both).
ESM = "(event sources: pollers, SES events)"


class UnpricedCall(RuntimeError):
    """A function made an AWS call the meter cannot price: add it to bench/pipeline.py and a price to bench/prices."""


_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("function", default=None)


class CountingStream(io.TextIOBase):
    """Stands for stdout/stderr: counts the bytes written (what Lambda ships to CloudWatch Logs), keeps a sample."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0
        self.sample: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.bytes += len(text.encode())
        self.lines += text.count("\n")
        if len(self.sample) < 40:
            self.sample.append(text[:300])
        return len(text)


# A write billed by what it is, not by the table it lands in: an order recorded on a run record (MessagesTable, whose
# other writes by the scenario consumer hand a step to delivery: "sending" in the bill) is uplift accounting of the
# events, as the report-row counter it replaced was. Its lines read `run-conversions:{table}` (and `/{index}`).
RUN_CONVERSION_PURPOSE = "run-conversions:"


def write_purpose(op: str, params: dict[str, Any]) -> str:
    """The prefix of a write's line detail: RUN_CONVERSION_PURPOSE for the run record's conversion update, else ""."""
    if op == "UpdateItem" and "run_conversions" in str(params.get("UpdateExpression", "")):
        return RUN_CONVERSION_PURPOSE
    return ""


class Meter:
    """Billable quantities by (line, detail, function), and each function's invocations, own time and log bytes."""

    def __init__(self, raw_call: Callable[..., Any], shapes: dict[str, metering.TableShape]) -> None:
        self.raw_call = raw_call  # the unhooked botocore call: the meter's own reads are never metered
        self.shapes = shapes
        self.quantities: Counter[tuple[str, str, str]] = Counter()
        self.invocations: Counter[str] = Counter()
        self.own_seconds: defaultdict[str, float] = defaultdict(float)
        self.aws_calls: Counter[tuple[str, str]] = Counter()  # (function, service) for the assumed in-region latency
        self.aws_seconds: defaultdict[str, float] = defaultdict(float)  # time inside moto and the meter, subtracted
        self.log_bytes: Counter[str] = Counter()
        self.log_lines: Counter[str] = Counter()
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.units_by_operation: Counter[tuple[str, str, str]] = Counter()  # (function, operation, table): units
        self._operation = ""

    def reset(self) -> None:
        for counter in (
            self.quantities,
            self.invocations,
            self.aws_calls,
            self.log_bytes,
            self.log_lines,
            self.calls,
            self.units_by_operation,
        ):
            counter.clear()
        self.own_seconds.clear()
        self.aws_seconds.clear()

    def add(self, line: str, detail: str, function: str, quantity: float) -> None:
        self.quantities[(line, detail, function)] += quantity
        if line.startswith("dynamodb_"):
            self.units_by_operation[(function, self._operation, detail)] += quantity

    # -- DynamoDB ---------------------------------------------------------------------------------------------------
    def _get(self, client: Any, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self.raw_call(client, "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True})
        return item.get("Item")

    def _key(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self.shapes[table].keys}

    def _write(
        self, function: str, table: str, old: Any, new: Any, *, transactional: bool, failed: bool, purpose: str = ""
    ) -> None:
        shape = self.shapes[table]
        if failed:  # a conditional write that failed: billed for the item it checked, no index touched
            factor = 2 if transactional else 1
            self.add("dynamodb_wru", purpose + table, function, factor * metering.write_units(metering.item_size(old)))
            return
        cost = metering.item_write_cost(shape, old, new, transactional=transactional)
        self.add("dynamodb_wru", purpose + table, function, cost.table_units)
        for index, units in cost.index_units.items():
            self.add("dynamodb_wru", f"{purpose}{table}/{index}", function, units)

    def before_dynamodb(self, client: Any, op: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
        """Old images of the items a write will touch: (table, key, old item)."""
        touched: list[tuple[str, dict[str, Any]]] = []
        if op in ("PutItem",):
            touched.append((params["TableName"], self._key(params["TableName"], params["Item"])))
        elif op in ("UpdateItem", "DeleteItem"):
            touched.append((params["TableName"], params["Key"]))
        elif op == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        touched.append((table, self._key(table, request["PutRequest"]["Item"])))
                    else:
                        touched.append((table, request["DeleteRequest"]["Key"]))
        elif op == "TransactWriteItems":
            for entry in params["TransactItems"]:
                ((kind, body),) = entry.items()
                key = self._key(body["TableName"], body["Item"]) if kind == "Put" else body["Key"]
                touched.append((body["TableName"], key))
        return [(table, key, self._get(client, table, key)) for table, key in touched]

    def after_dynamodb(
        self,
        client: Any,
        function: str,
        op: str,
        params: dict[str, Any],
        response: dict[str, Any] | None,
        old: list[tuple[str, dict[str, Any], Any]],
        error: BaseException | None,
    ) -> None:
        failed = error is not None
        self._operation = op
        if op in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"):
            purpose = write_purpose(op, params)
            for table, key, before in old:
                after = self._get(client, table, key)
                self._write(function, table, before, after, transactional=False, failed=failed, purpose=purpose)
        elif op == "TransactWriteItems":
            kinds = [next(iter(entry)) for entry in params["TransactItems"]]
            for kind, (table, key, before) in zip(kinds, old, strict=True):
                if kind == "ConditionCheck" or failed:
                    self._write(function, table, before, before, transactional=True, failed=True)
                else:
                    after = self._get(client, table, key)
                    self._write(function, table, before, after, transactional=True, failed=False)
        elif op == "GetItem":
            size = metering.item_size(self._get(client, params["TableName"], params["Key"]))
            units = metering.read_units(size, consistent=bool(params.get("ConsistentRead")))
            self.add("dynamodb_rru", params["TableName"], function, units)
        elif op == "BatchGetItem":
            for table, spec in params["RequestItems"].items():
                for key in spec["Keys"]:
                    size = metering.item_size(self._get(client, table, key))
                    self.add(
                        "dynamodb_rru",
                        table,
                        function,
                        metering.read_units(size, consistent=bool(spec.get("ConsistentRead"))),
                    )
        elif op == "TransactGetItems":
            for entry in params["TransactItems"]:
                body = entry["Get"]
                size = metering.item_size(self._get(client, body["TableName"], body["Key"]))
                self.add(
                    "dynamodb_rru",
                    body["TableName"],
                    function,
                    metering.read_units(size, consistent=True, transactional=True),
                )
        elif op in ("Query", "Scan"):
            table = params["TableName"]
            shape = self.shapes[table]
            index = shape.index(params["IndexName"]) if params.get("IndexName") else None
            size = 0
            for item in (response or {}).get("Items", []):
                full = self._get(client, table, self._key(table, item)) if all(k in item for k in shape.keys) else item
                entry = shape.index_entry(index, full) if index is not None else full
                size += metering.item_size(entry or item)
            detail = f"{table}/{index.name}" if index else table
            self.add(
                "dynamodb_rru",
                detail,
                function,
                metering.read_units(size, consistent=bool(params.get("ConsistentRead"))),
            )
        elif ("dynamodb", op) not in FREE_CALLS:
            raise UnpricedCall(f"dynamodb:{op} (called by {function})")

    # -- everything else --------------------------------------------------------------------------------------------
    def other(
        self, function: str, service: str, op: str, params: dict[str, Any], response: dict[str, Any] | None
    ) -> None:
        if (service, op) in FREE_CALLS:
            return
        if function == ESM and (service, op) not in ESM_BILLED:  # the local pump's own plumbing (topic lookups...)
            return
        if service == "s3":
            if op in ("PutObject", "CopyObject", "ListObjectsV2", "ListObjects", "CreateMultipartUpload", "UploadPart"):
                self.add("s3_put_requests", params.get("Bucket", ""), function, 1)
                if op == "PutObject":
                    self.add("s3_bytes_put", params.get("Bucket", ""), function, params.get("_body_bytes", 0))
                return
            if op in ("GetObject", "HeadObject"):
                self.add("s3_get_requests", params.get("Bucket", ""), function, 1)
                return
        if service == "sqs":
            if op == "SendMessage":
                self.add("sqs_requests", op, function, metering.message_requests(len(params["MessageBody"].encode())))
                return
            if op == "SendMessageBatch":
                total = sum(len(e["MessageBody"].encode()) for e in params["Entries"])
                self.add("sqs_requests", op, function, metering.message_requests(total))
                return
            if op == "ReceiveMessage":
                if function != ESM or (response or {}).get("Messages"):  # a poller's empty receives: not per event
                    self.add("sqs_requests", op, function, 1)
                return
            if op in (
                "DeleteMessage",
                "DeleteMessageBatch",
                "ChangeMessageVisibility",
                "ChangeMessageVisibilityBatch",
                "GetQueueUrl",
                "GetQueueAttributes",
            ):
                self.add("sqs_requests", op, function, 1)
                return
        if service == "sns" and op in ("Publish", "PublishBatch"):
            entries = params.get("PublishBatchRequestEntries") or [params]
            total = sum(len(str(e.get("Message", "")).encode()) for e in entries)
            self.add("sns_publishes", op, function, metering.message_requests(total))
            return
        if service in ("sesv2", "ses") and op in ("SendEmail", "SendRawEmail", "SendBulkEmail"):
            destination = params.get("Destination") or {}
            recipients = sum(len(destination.get(k) or []) for k in ("ToAddresses", "CcAddresses", "BccAddresses"))
            self.add("ses_emails", op, function, max(1, recipients))
            return
        if service == "secretsmanager" and op == "GetSecretValue":
            self.add("secretsmanager_calls", op, function, 1)
            return
        raise UnpricedCall(f"{service}:{op} (called by {function})")


def install(meter_holder: list[Meter]) -> None:
    """Hook every botocore client: each call made inside a function (or by a poller) is metered and timed."""
    import botocore.client
    from botocore.exceptions import ClientError

    original = botocore.client.BaseClient._make_api_call

    def metered_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        function = _function.get()
        meter = meter_holder[0] if meter_holder else None
        if meter is None or function is None:
            return original(self, operation_name, api_params)
        service = self.meta.service_model.service_name
        started = time.perf_counter()
        old = meter.before_dynamodb(self, operation_name, api_params) if service == "dynamodb" else []
        body = api_params.get("Body") if service == "s3" else None  # measured before botocore turns it into a stream
        body_bytes = len(body) if isinstance(body, bytes | str) else 0
        response, error = None, None
        try:
            response = original(self, operation_name, api_params)
            return response
        except ClientError as failure:
            error = failure
            raise
        finally:
            if service == "dynamodb":
                meter.after_dynamodb(self, function, operation_name, api_params, response, old, error)
            else:
                meter.other(function, service, operation_name, {**api_params, "_body_bytes": body_bytes}, response)
            meter.calls[(function, service, operation_name)] += 1
            meter.aws_calls[(function, service)] += 1
            meter.aws_seconds[function] += time.perf_counter() - started

    botocore.client.BaseClient._make_api_call = metered_call  # type: ignore[method-assign]


def in_function(name: str, handler: Callable[..., Any], meter_holder: list[Meter], streams: list[CountingStream]):
    """Run `handler` as one invocation of function `name`: counted, timed, its log bytes attributed to it."""

    def run(*args: Any, **kwargs: Any) -> Any:
        meter = meter_holder[0]
        token = _function.set(name)
        logged = sum(s.bytes for s in streams)
        lines = sum(s.lines for s in streams)
        before_aws = meter.aws_seconds[name]
        started = time.perf_counter()
        try:
            return handler(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            _function.reset(token)
            meter.invocations[name] += 1
            meter.own_seconds[name] += max(0.0, elapsed - (meter.aws_seconds[name] - before_aws))
            meter.log_bytes[name] += sum(s.bytes for s in streams) - logged
            meter.log_lines[name] += sum(s.lines for s in streams) - lines

    return run


def _environment() -> dict[str, str]:
    """The deployed functions' environment at the default log level: .chalice/config.json's top-level and prod stage
    variables (so a log-level or sampling change there shows up in the log bytes)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config.get("stages", {}).get("prod", {}).get("environment_variables", {}))
    return {k: str(v) for k, v in env.items()}


def function_memory_mb() -> dict[str, int]:
    """Each function's configured memory (.chalice/config.json: per function, else the app's default)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    default = int(config.get("lambda_memory_size", 128))
    memory = {name: int(spec.get("lambda_memory_size", default)) for name, spec in config["lambda_functions"].items()}
    memory["default"] = default
    return memory


# -- workloads ------------------------------------------------------------------------------------------------------


def _signup(n: int) -> list[dict[str, Any]]:
    user, now = f"signup-{n:06d}", workload.NOW
    stamp = workload.iso(now - timedelta(seconds=30))
    return [
        # A recipient zone where the workload's instant (12:00 UTC) is daytime: quiet hours never defer the welcome.
        {
            "type": "identify",
            "userId": user,
            "anonymousId": workload.anonymous_id(n),
            "timestamp": stamp,
            "messageId": f"su-{n}-1",
            "traits": {"email": f"{user}@mail.example", "firstName": "Sam"},
            "context": {"timezone": "Europe/London"},
        },
        {
            "type": "track",
            "userId": user,
            "event": "Email Subscribed",
            "timestamp": stamp,
            "messageId": f"su-{n}-2",
            "properties": {"source": "footer"},
        },
        {
            "type": "track",
            "userId": user,
            "event": "Signed Up",
            "timestamp": stamp,
            "messageId": f"su-{n}-3",
            "properties": {"method": "email"},
        },
    ]


def realistic(events: int, first: int, rng: random.Random) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """(history to fold first, live messages grouped by profile): returning visitors with EVENTS_PER_PROFILE events
    each, one profile in SIGNUP_EVERY a new sign-up (whose welcome email goes out through delivery)."""
    history, live = [], []
    for p in range(events // EVENTS_PER_PROFILE):
        n = first + p
        if p % SIGNUP_EVERY == SIGNUP_EVERY - 1:
            live.append(workload.live(n, 100, EVENTS_PER_PROFILE - 3, rng) + _signup(n))
            continue
        history += workload.history(n, HISTORY_EVENTS, 1, rng, end=workload.NOW - timedelta(minutes=10))
        live.append(workload.live(n, 100, EVENTS_PER_PROFILE, rng))
    return history, live


def one_per_profile(events: int, first: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    return [workload.live(first + p, 0, 1, rng) for p in range(events)]


# -- the run --------------------------------------------------------------------------------------------------------


@contextmanager
def stack() -> Iterator[tuple[Any, Any, list[Meter], list[CountingStream]]]:
    """The whole product on in-process moto as the integration tests build it, configured as deployed (queue URLs,
    topic ARNs, the signing secret in Secrets Manager), on a clock fixed at the workload's time."""
    streams = [CountingStream(), CountingStream()]
    sys.stdout, sys.stderr = streams[0], streams[1]  # before any logger exists: their handlers bind these streams
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "ONE2ONE_EMAIL_FROM": "shop@shop.example",
            "PUBLIC_BASE_URL": "https://shop.example",
            **_environment(),
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    _capture_raw()
    with mock_aws():
        from chalice import Chalice
        from chalice.test import Client

        from chalicelib import bootstrap
        from chalicelib.delivery.adapters.sns_notify import topic_arn_by_name
        from chalicelib.shared import clock
        from chalicelib.shared.aws import client, reset_clients
        from chalicelib.shared.settings import QUEUES, TOPICS
        from local.provision import provision
        from local.pump import StreamPump

        reset_clients()
        provision()
        for env_var, name in TOPICS.values():
            os.environ[f"{env_var}_ARN"] = topic_arn_by_name(name) or ""
        for env_var, name in QUEUES.values():
            os.environ[f"{env_var}_URL"] = client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
        secret = client("secretsmanager").create_secret(Name="one2one-signing", SecretString="bench-signing-key")
        os.environ.pop("ONE2ONE_SIGNING_KEY", None)
        os.environ["ONE2ONE_SIGNING_SECRET_ARN"] = secret["ARN"]
        client("sesv2").create_email_identity(EmailIdentity="shop.example")
        clock.set_clock(clock.FakeClock(workload.NOW))
        bootstrap.reset()

        from app import app

        bootstrap.get_source_registry().upsert_source(
            workload.SOURCE_ID, workload.WRITE_KEY, [workload.ORIGIN], kind="server"
        )
        ddb = client("dynamodb")
        shapes = {
            name: metering.TableShape.from_description(ddb.describe_table(TableName=name)["Table"])
            for name in ddb.list_tables()["TableNames"]
        }
        holder: list[Meter] = []
        install(holder)
        holder.append(Meter(_raw(), shapes))
        for name, handler in list(app.handler_map.items()):
            if not isinstance(handler, Chalice):
                app.handler_map[name] = in_function(name, handler, holder, streams)
        public_api = in_function("api_handler", Chalice.__call__, holder, streams)
        admin_api = in_function("admin_api", Chalice.__call__, holder, streams)

        def by_api(self: Chalice, event: dict[str, Any], context: Any) -> Any:
            route = str((event.get("requestContext") or {}).get("resourcePath", ""))
            return (admin_api if route.startswith("/admin") else public_api)(self, event, context)

        Chalice.__call__ = by_api  # type: ignore[method-assign]
        # ses_events: SES publishes each mail's delivery events to the feedback topic (-> ses_feedback), as in AWS
        pump = StreamPump(app, ses_events=True)  # its own calls (stream reads, queue polls) run as ESM: see _drain
        with Client(app) as http:
            yield http, pump, holder, streams
        reset_clients()
        bootstrap.reset()


_RAW: list[Callable[..., Any]] = []


def _raw() -> Callable[..., Any]:
    """The botocore call as it was before `install` (captured at import of botocore, once)."""
    return _RAW[0]


def _capture_raw() -> None:
    import botocore.client

    if not _RAW:
        original = botocore.client.BaseClient._make_api_call
        _RAW.append(lambda client, op, params: original(client, op, params))


def _headers() -> dict[str, str]:
    import base64

    auth = base64.b64encode(f"{workload.WRITE_KEY}:".encode()).decode()
    return {"Content-Type": "application/json", "Authorization": f"Basic {auth}", "User-Agent": workload.USER_AGENT}


def _send(http: Any, messages: list[dict[str, Any]], per_request: int) -> int:
    """POST the messages one per request (`/v1/<type>`) or in batches; returns the number of requests."""
    headers, requests = _headers(), 0
    for start in range(0, len(messages), per_request):
        chunk = messages[start : start + per_request]
        if per_request == 1:
            message = dict(chunk[0])
            path = f"/v1/{message.pop('type')}"
            body = message
        else:
            path, body = "/v1/batch", {"batch": chunk}
        response = http.http.post(path, body=json.dumps(body), headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.body[:300]!r}")
        requests += 1
    return requests


def _drain(pump: Any) -> None:
    token = _function.set(ESM)
    try:
        pump.drain(max_rounds=200)
    finally:
        _function.reset(token)
    if pump.dead_letters or pump.errors:
        raise RuntimeError(f"the pipeline failed: {pump.dead_letters[:2]} {pump.errors[:2]}")


def _snapshot(meter: Meter, events: int, requests: int, profiles: int) -> dict[str, Any]:
    functions = sorted(set(meter.invocations) | {f for f, _ in meter.aws_calls if f != ESM})
    return {
        "events": events,
        "requests": requests,
        "profiles": profiles,
        "quantities": [
            {"line": line, "detail": detail, "function": function, "quantity": quantity}
            for (line, detail, function), quantity in sorted(meter.quantities.items())
        ],
        "functions": {
            name: {
                "invocations": meter.invocations[name],
                "own_seconds": meter.own_seconds[name],
                "aws_calls": {service: n for (f, service), n in meter.aws_calls.items() if f == name},
                "log_bytes": meter.log_bytes[name],
                "log_lines": meter.log_lines[name],
            }
            for name in functions
        },
        "dynamodb_units_by_operation": [
            {"function": f, "operation": o, "table": t, "units": n}
            for (f, o, t), n in sorted(meter.units_by_operation.items())
        ],
        "calls": [
            {"function": f, "service": s, "operation": o, "count": n} for (f, s, o), n in sorted(meter.calls.items())
        ],
    }


def run(quick: bool = False) -> dict[str, Any]:
    events = 60 if quick else 300  # moto's queries scan whole tables: more events mostly measure moto
    rng = random.Random(19)
    results: dict[str, Any] = {"batch_size": BATCH_SIZE, "events_per_workload": events}
    with stack() as (http, pump, holder, streams):
        meter = holder[0]
        from chalicelib.shared.clock import get_clock

        first = 0
        warm_history, _ = realistic(EVENTS_PER_PROFILE * 4, 900_000, rng)  # warm containers (imports, caches, secret)
        _send(http, warm_history, BATCH_SIZE)
        _drain(pump)
        for per_request in (1, BATCH_SIZE):
            for mix in ("realistic", "1_event_per_profile"):
                first += 100_000
                if mix == "realistic":
                    history, live = realistic(events, first, rng)
                    _send(http, history, BATCH_SIZE)  # returning visitors: their profiles exist (not metered)
                    _drain(pump)
                else:
                    live = one_per_profile(events, first, rng)
                messages = [m for group in live for m in group]
                get_clock().advance(timedelta(seconds=1))  # type: ignore[attr-defined]  # the FakeClock
                meter.reset()
                requests = _send(http, messages, per_request)
                _drain(pump)
                # Sends paced or deferred by a minute or two go out inside this workload's meter, not the next one's
                get_clock().advance(timedelta(minutes=3))  # type: ignore[attr-defined]
                _drain(pump)
                results[f"{'1_event_per_request' if per_request == 1 else f'batches_of_{BATCH_SIZE}'}/{mix}"] = (
                    _snapshot(meter, len(messages), requests, len(live))
                )
        results["log_sample"] = "".join(streams[0].sample[:6])[:1500]
    return results


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    real_stdout = sys.stdout
    try:
        document = run(quick)
    except Exception as error:  # noqa: BLE001 - reported as JSON for the parent: named, never a fake figure
        import traceback

        document = {
            "status": "error",
            "reason": f"{type(error).__name__}: {error}"[:500],
            "traceback": traceback.format_exc()[-3000:],
        }
    real_stdout.write(json.dumps(document, default=str) + "\n")
