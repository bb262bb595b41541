"""Scenario runs, message records, the send log (caps and spend), suppression, the due store and related products.

MessagesTable (pk, sk), one partition per person so every per-person read is one Query:

| pk                      | sk                           | what                                                   |
|-------------------------|------------------------------|--------------------------------------------------------|
| `p#{profile}`           | `run#{trigger_id}`           | a ScenarioRun (JSON `body`, `status`, `assigned`)      |
| `p#{profile}`           | `msg#{trigger_id}#{step}`    | the message record of one step of one run (exactly-once) |
| `p#{profile}`           | `log#{sent_at}#{message_id}` | one customer send: channel, cost (caps, budget)        |
| `s#{channel}:{address}` | `-`                          | suppression (bounce, complaint, manual)                |

`attention`/`attention_at` exist only while a message is `sending` or `unknown`; the sparse GSI `by_attention` lists
them for the stuck-send sweep without scanning. A run's `assigned` (`{scenario}#{treated|holdout}#{shard}`) and
`assigned_at` (its entry time), written once by `create`, are the keys of the sparse KEYS_ONLY GSI `by_assignment`:
the uplift report counts a scenario's assignments there (`engagement/messages_table.py`). Engagement's adapter adds
the run's conversions to the same record (`conv_orders`, `run_conversions`, `run_revenue`, `converted`: the sparse GSI
`by_conversion`); `save` updates only its own attributes, so a step never drops them.

DueTable (pk=`due#{YYYY-MM-DDTHH}` hour bucket, sk=`{due_at}#{ref}`): run steps waiting for a time. The scheduled reader
queries buckets from its cursor to now (Query only), so a waiting run costs one item and no compute.

The key layout shared with engagement's adapter (same partitions) is in `engagement/messages_table.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from chalicelib.delivery.ports import MessageRecord, SendLogEntry
from chalicelib.engagement.messages_table import (
    due_bucket,
    erased_suppression_pk,
    message_sk,
    person_pk,
    plain,
    run_assignment,
    run_sk,
    suppression_pk,
)
from chalicelib.scenarios.engine import ScenarioRun
from chalicelib.shared.aws import client
from chalicelib.shared.dynamodb import batch_get, query_all
from chalicelib.tracking.events import iso

RUN_TTL_DAYS = 400
MESSAGE_TTL_DAYS = 400
DUE_TTL_DAYS = 7  # a due item is only read once its bucket is reached; keep it a little for debugging
# Statuses a new claim may overwrite: a deferral coming due, or a send the provider told us did not happen.
REOPENABLE = ("deferred", "retry")
ATTENTION = ("sending", "unknown")


def _epoch(dt: datetime, days: int) -> str:
    return str(int((dt + timedelta(days=days)).timestamp()))


class DynamoRunStore:
    """Scenario runs, one item per (profile, trigger instance)."""

    def __init__(self, table: str) -> None:
        self.table = table

    def _item(self, run: ScenarioRun) -> dict[str, Any]:
        now = run.updated_at or run.entered_at
        return {
            "pk": {"S": person_pk(run.profile_id)},
            "sk": {"S": run_sk(run.trigger_id)},
            "scenario_id": {"S": run.scenario_id},
            "status": {"S": run.status},
            "step_index": {"N": str(run.step_index)},
            "body": {"S": run.model_dump_json()},
            "expires_at": {"N": _epoch(now, RUN_TTL_DAYS)},
        }

    def create(self, run: ScenarioRun) -> bool:
        """Store a new run unless one exists for this trigger instance (a duplicated stream record starts nothing).

        The run is also the uplift report's assignment (`assigned`, `assigned_at`: the `by_assignment` index), so
        starting one costs this one write and no counter."""
        ddb = client("dynamodb")
        item = self._item(run)
        item["assigned"] = {"S": run_assignment(run.scenario_id, run.holdout, run.profile_id, run.trigger_id)}
        item["assigned_at"] = {"S": iso(run.entered_at)}
        try:
            ddb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def save(self, run: ScenarioRun, expected_step: int) -> bool:
        """Write the run if it is still active at `expected_step` (so a duplicate step execution cannot move it).

        An update, not a put: it leaves `assigned` / `assigned_at` as `create` wrote them (the index entry does not
        change, so it costs nothing), and a run created before they existed (counted in the report row's legacy
        `assigned` counter) never gains them, so it is never counted twice."""
        ddb = client("dynamodb")
        item = self._item(run)
        try:
            ddb.update_item(
                TableName=self.table,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET #s = :status, step_index = :index, body = :body, expires_at = :expires",
                ConditionExpression="#s = :active AND step_index = :step",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":status": item["status"],
                    ":index": item["step_index"],
                    ":body": item["body"],
                    ":expires": item["expires_at"],
                    ":active": {"S": "active"},
                    ":step": {"N": str(expected_step)},
                },
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, profile_id: str, trigger_id: str) -> ScenarioRun | None:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table,
                Key={"pk": {"S": person_pk(profile_id)}, "sk": {"S": run_sk(trigger_id)}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        return ScenarioRun.model_validate_json(item["body"]["S"]) if item else None

    def for_profile(self, profile_id: str) -> list[ScenarioRun]:
        return [ScenarioRun.model_validate_json(i["body"]["S"]) for i in _query_prefix(self.table, profile_id, "run#")]


def _query_prefix(table: str, profile_id: str, prefix: str, *, newest_first: bool = False) -> list[dict[str, Any]]:
    return query_all(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": person_pk(profile_id)}, ":prefix": {"S": prefix}},
        ScanIndexForward=not newest_first,
        ConsistentRead=True,
    )


class DynamoMessageStore:
    """Message records (one per step of a run), the send log and the suppression list.

    `address_key` gives the key of erased addresses' suppressions (the signing key; "" when none is configured).
    """

    def __init__(self, table: str, address_key: Callable[[], str] | None = None) -> None:
        self.table = table
        self.address_key = address_key

    # -- message records ------------------------------------------------------------------------------------------
    def get(self, profile_id: str, trigger_id: str, step_index: int) -> MessageRecord | None:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table,
                Key={"pk": {"S": person_pk(profile_id)}, "sk": {"S": message_sk(trigger_id, step_index)}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        return _decode_message(item) if item else None

    def claim(self, record: MessageRecord, now: datetime) -> bool:
        """Write the record unless one exists that is not reopenable (deferred / retry); a reopened record keeps its
        history, so a deferral stays visible after the send.

        With `status: sending` this is the exactly-once gate: it is written BEFORE the provider call, so a duplicate
        delivery (stream or queue) finds it and does nothing."""
        ddb = client("dynamodb")
        status = record["status"]
        names: dict[str, str] = {"#s": "status", "#h": "history", "#c": "created_at"}
        values: dict[str, Any] = {
            ":d": {"S": REOPENABLE[0]},
            ":r": {"S": REOPENABLE[1]},
            ":empty": {"L": []},
            ":h": {"L": [{"S": json.dumps({"at": iso(now), "status": status, **_small(record)})}]},
            ":now": {"S": iso(now)},
            ":exp": {"N": _epoch(now, MESSAGE_TTL_DAYS)},
        }
        sets = ["#h = list_append(if_not_exists(#h, :empty), :h)", "#c = if_not_exists(#c, :now)"]
        sets += ["updated_at = :now", "expires_at = :exp"]
        fields = {k: v for k, v in record.items() if v is not None and k not in ("created_at",)}
        removes_named: list[str] = []
        for n, (key, value) in enumerate(fields.items()):
            names[f"#f{n}"] = key
            values[f":f{n}"] = _attr(value)
            sets.append(f"#f{n} = :f{n}")
        for n, key in enumerate(k for k in ("reason", "detail", "until") if k not in fields):
            names[f"#r{n}"] = key  # `until` is a reserved word
            removes_named.append(f"#r{n}")
        removes = removes_named
        if status in ATTENTION:
            values[":a"] = {"S": status}
            sets += ["attention = :a", "attention_at = :now"]
        else:
            removes += ["attention", "attention_at"]
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            ddb.update_item(
                TableName=self.table,
                Key={
                    "pk": {"S": person_pk(record["profile_id"])},
                    "sk": {"S": message_sk(record["trigger_id"], record["step_index"])},
                },
                UpdateExpression=expression,
                ConditionExpression="attribute_not_exists(pk) OR #s IN (:d, :r)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def finish(
        self,
        profile_id: str,
        trigger_id: str,
        step_index: int,
        status: str,
        now: datetime,
        *,
        expect: str = "sending",
        log: dict[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        """Move a record from `expect` to `status`, with extra fields; `log` also writes a send-log item in the same
        transaction (so caps and spend count exactly the messages marked sent)."""
        ddb = client("dynamodb")
        names = {"#s": "status", "#u": "updated_at", "#h": "history"}
        values: dict[str, Any] = {
            ":s": {"S": status},
            ":u": {"S": iso(now)},
            ":expect": {"S": expect},
            ":h": {"L": [{"S": json.dumps({"at": iso(now), "status": status, **_small(fields)})}]},
        }
        sets = ["#s = :s", "#u = :u", "#h = list_append(#h, :h)"]
        for n, (key, value) in enumerate(fields.items()):
            names[f"#f{n}"] = key
            values[f":f{n}"] = _attr(value)
            sets.append(f"#f{n} = :f{n}")
        expression = "SET " + ", ".join(sets)
        if status in ATTENTION:
            names["#a"], names["#aa"] = "attention", "attention_at"
            values[":a"], values[":aa"] = {"S": status}, {"S": iso(now)}
            expression += ", #a = :a, #aa = :aa"
        else:
            expression += " REMOVE attention, attention_at"
        update = {
            "TableName": self.table,
            "Key": {"pk": {"S": person_pk(profile_id)}, "sk": {"S": message_sk(trigger_id, step_index)}},
            "UpdateExpression": expression,
            "ConditionExpression": "#s = :expect",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        try:
            if log is None:
                ddb.update_item(**update)
            else:
                log_item = {
                    "pk": {"S": person_pk(profile_id)},
                    "sk": {"S": f"log#{iso(now)}#{log['message_id']}"},
                    "channel": {"S": log["channel"]},
                    "cost": {"N": repr(float(log.get("cost", 0.0)))},
                    "marketing": {"BOOL": bool(log.get("marketing", True))},
                    "scenario_id": {"S": log.get("scenario_id", "")},
                    "expires_at": {"N": _epoch(now, MESSAGE_TTL_DAYS)},
                }
                if log.get("topic"):
                    log_item["topic"] = {"S": str(log["topic"])}
                ddb.transact_write_items(
                    TransactItems=[{"Update": update}, {"Put": {"TableName": self.table, "Item": log_item}}]
                )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        except ddb.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                return False
            raise
        return True

    def for_profile(self, profile_id: str) -> list[MessageRecord]:
        return [_decode_message(i) for i in _query_prefix(self.table, profile_id, "msg#")]

    def attention(self, status: str, older_than: datetime, limit: int = 100) -> list[tuple[str, str]]:
        """(profile_id, sk) of records in `status` (sending / unknown) since before `older_than` (sparse GSI)."""
        page = client("dynamodb").query(
            TableName=self.table,
            IndexName="by_attention",
            KeyConditionExpression="attention = :a AND attention_at < :t",
            ExpressionAttributeValues={":a": {"S": status}, ":t": {"S": iso(older_than)}},
            Limit=limit,
        )
        return [(i["pk"]["S"].removeprefix("p#"), i["sk"]["S"]) for i in page.get("Items", [])]

    def get_by_key(self, profile_id: str, sk: str) -> MessageRecord | None:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table, Key={"pk": {"S": person_pk(profile_id)}, "sk": {"S": sk}}, ConsistentRead=True
            )
            .get("Item")
        )
        return _decode_message(item) if item else None

    # -- send log ---------------------------------------------------------------------------------------------------
    def sends_since(self, profile_id: str, since: datetime) -> list[SendLogEntry]:
        """Send-log entries at or after `since` (channel, cost, marketing), oldest first."""
        page_items: list[SendLogEntry] = []
        ddb = client("dynamodb")
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": {"S": person_pk(profile_id)},
                ":lo": {"S": f"log#{iso(since)}"},
                ":hi": {"S": "log#\uffff"},
            },
            "ConsistentRead": True,
        }
        while True:
            page = ddb.query(**kwargs)
            page_items.extend(cast(SendLogEntry, plain(i)) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return page_items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- suppression ------------------------------------------------------------------------------------------------
    def is_suppressed(self, channel: str, address: str) -> bool:
        """Suppressed under the address itself, or under its keyed hash (kept when its owner was erased)."""
        pks = [suppression_pk(channel, address)]
        key = self.address_key() if self.address_key is not None else ""
        if key:
            pks.append(erased_suppression_pk(channel, address, key))
        request = {self.table: {"Keys": [{"pk": {"S": pk}, "sk": {"S": "-"}} for pk in pks]}}
        while request:
            response = client("dynamodb").batch_get_item(RequestItems=request)
            if response.get("Responses", {}).get(self.table):
                return True
            request = response.get("UnprocessedKeys") or {}
        return False

    def suppress(self, channel: str, address: str, reason: str, now: datetime) -> None:
        client("dynamodb").put_item(
            TableName=self.table,
            Item={
                "pk": {"S": suppression_pk(channel, address)},
                "sk": {"S": "-"},
                "reason": {"S": reason},
                "at": {"S": iso(now)},
            },
        )


def _attr(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, dict | list):
        return {"S": json.dumps(value, default=str)}
    return {"S": str(value)}


def _small(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k in ("reason", "detail", "until", "provider_id")}


def _decode_message(item: dict[str, Any]) -> MessageRecord:
    out = plain({k: v for k, v in item.items() if k != "history"})
    out["history"] = [json.loads(h["S"]) for h in item.get("history", {}).get("L", [])]
    out.pop("pk", None)
    out.pop("attention", None)
    out.pop("attention_at", None)
    return cast(MessageRecord, out)


# --------------------------------------------------------------------------------------------------------------------
# Due store
# --------------------------------------------------------------------------------------------------------------------


class DynamoDueStore:
    """Run steps waiting for a time, bucketed by UTC hour; the reader's cursor is an item in the same table."""

    CURSOR_KEY = {"pk": {"S": "cursor"}, "sk": {"S": "due_reader"}}

    def __init__(self, table: str) -> None:
        self.table = table

    def put(self, due_at: datetime, ref: str, payload: dict[str, Any]) -> None:
        """Idempotent: the same (due_at, ref) overwrites itself."""
        client("dynamodb").put_item(
            TableName=self.table,
            Item={
                "pk": {"S": due_bucket(due_at)},
                "sk": {"S": f"{iso(due_at)}#{ref}"},
                "payload": {"S": json.dumps(payload)},
                "expires_at": {"N": _epoch(due_at, DUE_TTL_DAYS)},
            },
        )

    def due(self, after: datetime, until: datetime) -> Iterable[dict[str, Any]]:
        """Payloads with after < due_at <= until, oldest bucket first (one Query per hour bucket)."""
        ddb = client("dynamodb")
        bucket = after.replace(minute=0, second=0, microsecond=0)
        low, high = f"{iso(after)}#\uffff", f"{iso(until)}#\uffff"
        while bucket <= until:
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
                "ExpressionAttributeValues": {":pk": {"S": due_bucket(bucket)}, ":lo": {"S": low}, ":hi": {"S": high}},
            }
            while True:
                page = ddb.query(**kwargs)
                for item in page.get("Items", []):
                    yield json.loads(item["payload"]["S"])
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            bucket += timedelta(hours=1)

    def cursor(self) -> datetime | None:
        item = client("dynamodb").get_item(TableName=self.table, Key=self.CURSOR_KEY, ConsistentRead=True).get("Item")
        return datetime.fromisoformat(item["at"]["S"].replace("Z", "+00:00")) if item else None

    def set_cursor(self, at: datetime) -> None:
        client("dynamodb").put_item(TableName=self.table, Item={**self.CURSOR_KEY, "at": {"S": iso(at)}})


# --------------------------------------------------------------------------------------------------------------------
# Related products (co-purchase counts) in the StateTable
# --------------------------------------------------------------------------------------------------------------------


class DynamoRelatedProducts:
    """Co-purchase counts: item (`related#{a}`, `{b}`) with a counter `n`; product cards (`product#{id}`, `card`).

    Counting is made idempotent per order by a marker item written first (a replayed stream record counts nothing)."""

    MAX_PRODUCTS_PER_ORDER = 10

    def __init__(self, table: str) -> None:
        self.table = table

    def record_order(self, order_key: str, products: list[dict[str, Any]], now: datetime) -> bool:
        ddb = client("dynamodb")
        cards = {str(p["product_id"]): p for p in products if p.get("product_id") not in (None, "")}
        ids = sorted(cards)[: self.MAX_PRODUCTS_PER_ORDER]
        if not ids:
            return False
        try:
            ddb.put_item(
                TableName=self.table,
                Item={"pk": {"S": "copurchase"}, "sk": {"S": order_key}, "expires_at": {"N": _epoch(now, 30)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        for pid in ids:
            card = cards[pid]
            ddb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"product#{pid}"},
                    "sk": {"S": "card"},
                    "card": {
                        "S": json.dumps({k: card.get(k) for k in ("product_id", "name", "price", "url", "image_url")})
                    },
                },
            )
            for other in ids:
                if other != pid:
                    ddb.update_item(
                        TableName=self.table,
                        Key={"pk": {"S": f"related#{pid}"}, "sk": {"S": other}},
                        UpdateExpression="ADD n :one",
                        ExpressionAttributeValues={":one": {"N": "1"}},
                    )
        return True

    def related(self, product_ids: list[str], exclude: set[str], limit: int = 4) -> list[dict[str, Any]]:
        """Product cards most often bought with any of `product_ids`, best first, without `exclude`."""
        ddb = client("dynamodb")
        scores: dict[str, int] = {}
        for pid in product_ids[:5]:
            page = ddb.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"related#{pid}"}},
                Limit=200,
            )
            for item in page.get("Items", []):
                other = item["sk"]["S"]
                if other not in exclude:
                    scores[other] = scores.get(other, 0) + int(item["n"]["N"])
        best = sorted(scores, key=lambda k: (-scores[k], k))[:limit]
        if not best:
            return []
        response = ddb.batch_get_item(
            RequestItems={self.table: {"Keys": [{"pk": {"S": f"product#{pid}"}, "sk": {"S": "card"}} for pid in best]}}
        )
        cards = {
            i["pk"]["S"].removeprefix("product#"): json.loads(i["card"]["S"])
            for i in response.get("Responses", {}).get(self.table, [])
        }
        return [cards[pid] for pid in best if pid in cards]


# --------------------------------------------------------------------------------------------------------------------
# Events by key (the profiles-stream consumer reads the events a fold just applied)
# --------------------------------------------------------------------------------------------------------------------


def batch_get_events(table: str, keys: list[tuple[str, str]], max_rounds: int = 8) -> dict[str, Any]:
    """Event key -> TrackedEvent for every event stored in the items of these table keys (profile id, ts_key) that
    exist (an event's own item or a group item: tracking/events.py); BatchGetItem, 100 keys a request, unprocessed
    re-asked (`shared.dynamodb.batch_get`)."""
    from chalicelib.tracking.events import expand, table_key

    items = batch_get(table, [table_key(k) for k in keys], max_rounds=max_rounds)
    return {event.key: event for item in items for event in expand(item)}
