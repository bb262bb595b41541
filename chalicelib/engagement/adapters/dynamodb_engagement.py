"""Report counters, engagement touches and direct preference overrides (StateTable and MessagesTable).

StateTable:

| pk                    | sk                              | what                                                    |
|-----------------------|---------------------------------|---------------------------------------------------------|
| `report#{scenario}`   | `{step}#{variant}#{channel}`    | ADD counters (sent, delivered, human_opens, ...)        |
| `reports`             | `{scenario}`                    | index of scenarios with counters or runs (list endpoint) |
| `fact#{fact id}`      | `-`                             | an increment already applied (idempotency marker, TTL)  |
| `rate`                | `{bucket}`                      | rate-limit window counters (confirmation mails and SMS) |
| `sms-code#{tag}`      | `pending`                       | a pending SMS code: keyed hash of the code, attempts    |
| `daily#{day}`         | `events` / `active` / `email`   | the console's daily series (`engagement/daily.py`)      |
| `dailybatch#{seq}`    | `-`                             | a counted events-stream batch (`last` sequence, TTL)    |

MessagesTable (the person's partition, so erasure by key removes it with the rest):

| pk            | sk                                 | what                                                       |
|---------------|------------------------------------|------------------------------------------------------------|
| `p#{profile}` | `pref#{channel}` / `pref#{ch}#{t}` | opt-in / opt-out written synchronously by the link pages   |
| `p#{profile}` | `touch#{at}#{message_id}#{kind}`   | a human open or click, for conversion attribution          |
| `p#{profile}` | `pending#email`                    | the latest double opt-in request (source, time)            |

The uplift report's assignments are the run records (`p#{profile}` / `run#{trigger_id}`, delivery's adapter): their
`assigned` / `assigned_at` keys are the sparse KEYS_ONLY GSI `by_assignment`, counted per arm at read time
(`assignments`) and added to the arm rows' legacy `assigned` counter (runs started before the index). Their
conversions too: `run_conversion` adds an order to the run record (`conv_orders`, `run_conversions`, `run_revenue`,
and `converted` on the first: the sparse GSI `by_conversion`, INCLUDE projection), summed per arm at read time
(`conversions`) and added to the arm rows' legacy `run_conversions` / `revenue` counters.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timedelta
from typing import Any

from chalicelib.engagement.messages_table import (
    ARMS,
    ASSIGNMENT_INDEX,
    ASSIGNMENT_SHARDS,
    CONVERSION_INDEX,
    MAX_RUN_ORDERS,
    assignment_key,
    due_bucket,
    erased_suppression_pk,
    person_pk,
    plain,
    run_assignment,
    run_sk,
    suppression_pk,
)
from chalicelib.engagement.ports import RunConversion
from chalicelib.engagement.reports import SKIPPED_PREFIX, add_run_counts
from chalicelib.shared.aws import client
from chalicelib.shared.dynamodb import add_once_per_batch, query_all
from chalicelib.tracking.events import iso

FACT_TTL_DAYS = 400
TOUCH_TTL_DAYS = 30
MAX_DUE_BUCKETS = 24 * 120  # a run waits at most ~4 months in the packaged scenarios
COUNTER_FIELDS = (
    "sent",
    "delivered",
    "bounced",
    "human_opens",
    "machine_opens",
    "clicks",
    "unsubscribes",
    "complaints",
    "conversions",
    "revenue",
    "rejected",
    "delayed",
    "assigned",
    "run_conversions",
    "impressions",  # in-app: every view, then unique viewers and dismissers (clicks are unique clickers)
    "viewers",
    "dismissals",
)


def _epoch(dt: datetime, days: int) -> str:
    return str(int((dt + timedelta(days=days)).timestamp()))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class DynamoEngagementStore:
    count_page_limit: int | None = None  # Limit of one assignment COUNT page (None: DynamoDB's 1 MB pages)

    def __init__(self, state_table: str, messages_table: str) -> None:
        self.state = state_table
        self.messages = messages_table
        # Scenarios this container has named in the `reports` listing. The listing is only ever added to, so one
        # write per scenario per warm container is enough: every later count skips it (a transaction item is two
        # write units; it was a third of every count's cost).
        self._listed: set[str] = set()

    # -- counters -----------------------------------------------------------------------------------------------------
    def count(
        self,
        fact_id: str,
        scenario_id: str,
        row: str,
        increments: dict[str, float],
        now: datetime,
        *,
        listed: bool = True,
        daily: str | None = None,
    ) -> bool:
        """ADD `increments` to one report row once per `fact_id` (marker and ADD in one transaction, like segment
        sizes): a replayed stream record, SNS redelivery or reloaded pixel adds nothing. False when already counted.

        `daily` (a `YYYY-MM-DD` day): the email outcomes among `increments` also go to that day's series row, in the
        same transaction behind the same marker (`engagement/daily.py`)."""
        ddb = client("dynamodb")
        names = {f"#c{n}": name for n, name in enumerate(increments)}
        values = {f":c{n}": {"N": _number(v)} for n, v in enumerate(increments.values())}
        adds = ", ".join(f"#c{n} :c{n}" for n in range(len(increments)))
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.state,
                    "Item": {
                        "pk": {"S": f"fact#{fact_id}"},
                        "sk": {"S": "-"},
                        "expires_at": {"N": _epoch(now, FACT_TTL_DAYS)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self.state,
                    "Key": {"pk": {"S": f"report#{scenario_id}"}, "sk": {"S": row}},
                    "UpdateExpression": f"ADD {adds} SET updated_at = :now",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": {**values, ":now": {"S": iso(now)}},
                }
            },
        ]
        if daily is not None:
            from chalicelib.engagement.daily import EMAIL_FIELDS

            outcomes = {k: v for k, v in increments.items() if k in EMAIL_FIELDS}
            if outcomes:
                items.append(DynamoDailyStore(self.state).email_item(daily, outcomes, now))
        lists = listed and scenario_id not in self._listed  # operational rows (dropped feedback) stay out of the list
        if lists:
            items.append(
                {
                    "Update": {
                        "TableName": self.state,
                        "Key": {"pk": {"S": "reports"}, "sk": {"S": scenario_id}},
                        "UpdateExpression": "SET updated_at = :now",
                        "ExpressionAttributeValues": {":now": {"S": iso(now)}},
                    }
                }
            )
        try:
            ddb.transact_write_items(TransactItems=items)
        except ddb.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False  # counted before, by a transaction that listed the scenario or followed one that did
            raise
        if lists:
            self._listed.add(scenario_id)
        return True

    def list_scenario(self, scenario_id: str, now: datetime) -> None:
        """Name the scenario in the `reports` listing (idempotent; once per scenario per warm container): its runs
        count assignments in no counter row."""
        if scenario_id in self._listed:
            return
        client("dynamodb").update_item(
            TableName=self.state,
            Key={"pk": {"S": "reports"}, "sk": {"S": scenario_id}},
            UpdateExpression="SET updated_at = :now",
            ExpressionAttributeValues={":now": {"S": iso(now)}},
        )
        self._listed.add(scenario_id)

    def run_conversion(
        self, profile_id: str, trigger_id: str, scenario_id: str, holdout: bool, order_key: str, revenue: float
    ) -> RunConversion:
        """Add one order to the run it converts: one conditional UpdateItem, no marker, no transaction.

        The condition makes it exactly-once (the order is not among `conv_orders` yet), never recreates a run record
        that is gone (erased or expired: its assignment left the report with it) and keeps the record bounded
        (`MAX_RUN_ORDERS`). `converted` is written once (if_not_exists): the index entry appears on the first
        conversion, later ones rewrite only its two projected numbers. A failed condition returns the record as it was
        (ReturnValuesOnConditionCheckFailure: no extra read) to tell the three cases apart."""
        ddb = client("dynamodb")
        try:
            ddb.update_item(
                TableName=self.messages,
                Key={"pk": {"S": person_pk(profile_id)}, "sk": {"S": run_sk(trigger_id)}},
                UpdateExpression="SET converted = if_not_exists(converted, :shard) "
                "ADD conv_orders :orders, run_conversions :one, run_revenue :revenue",
                ConditionExpression="attribute_exists(pk) AND NOT contains(conv_orders, :order) "
                "AND (attribute_not_exists(run_conversions) OR run_conversions < :cap)",
                ExpressionAttributeValues={
                    ":shard": {"S": run_assignment(scenario_id, holdout, profile_id, trigger_id)},
                    ":orders": {"SS": [order_key]},
                    ":order": {"S": order_key},
                    ":one": {"N": "1"},
                    ":revenue": {"N": _number(revenue)},
                    ":cap": {"N": str(MAX_RUN_ORDERS)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ddb.exceptions.ConditionalCheckFailedException as failure:
            old = failure.response.get("Item")
            if not old:
                return "gone"
            return "counted_before" if order_key in old.get("conv_orders", {}).get("SS", []) else "full"
        return "counted"

    def assignments(self, scenario_id: str) -> dict[str, int]:
        """Arm (`treated`, `holdout`) -> runs of the scenario still stored, counted on the `by_assignment` index:
        Select=COUNT over each arm's shards (each paginated), the 32 Queries at once (a report waits for one)."""
        counted = self._each_shard(scenario_id, ASSIGNMENT_INDEX, "assigned", {"Select": "COUNT"})
        return {arm: sum(int(page.get("Count", 0)) for page in pages) for arm, pages in counted.items()}

    def conversions(self, scenario_id: str) -> dict[str, dict[str, float]]:
        """Arm -> {`run_conversions`, `revenue`} summed over the scenario's converted runs on the `by_conversion`
        index (its projected numbers only: no base-table read), each arm's shards paginated, all at once."""
        read = self._each_shard(
            scenario_id, CONVERSION_INDEX, "converted", {"ProjectionExpression": "run_conversions, run_revenue"}
        )
        out: dict[str, dict[str, float]] = {}
        for arm, pages in read.items():
            items = [item for page in pages for item in page.get("Items", [])]
            out[arm] = {
                "run_conversions": float(sum(float(i["run_conversions"]["N"]) for i in items)),
                "revenue": float(sum(float(i["run_revenue"]["N"]) for i in items)),
            }
        return out

    def _each_shard(
        self, scenario_id: str, index: str, key: str, select: dict[str, Any]
    ) -> dict[str, list[dict[str, Any]]]:
        """Arm -> every Query page of `index` over the arm's shards (`key` = shard key), the 32 Queries at once."""
        import contextvars
        from concurrent.futures import ThreadPoolExecutor

        ddb = client("dynamodb")  # one client for every thread (boto3 clients are thread-safe, creating one is not)

        def pages(partition: str) -> list[dict[str, Any]]:
            kwargs: dict[str, Any] = {
                "TableName": self.messages,
                "IndexName": index,
                "KeyConditionExpression": "#k = :a",
                "ExpressionAttributeNames": {"#k": key},
                "ExpressionAttributeValues": {":a": {"S": partition}},
                **select,
            }
            if self.count_page_limit is not None:
                kwargs["Limit"] = self.count_page_limit
            out = []
            while True:
                page = ddb.query(**kwargs)
                out.append(page)
                if "LastEvaluatedKey" not in page:
                    return out
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        partitions = [
            (arm, assignment_key(scenario_id, arm, shard)) for arm in ARMS for shard in range(ASSIGNMENT_SHARDS)
        ]
        with ThreadPoolExecutor(max_workers=ASSIGNMENT_SHARDS) as pool:
            # each task in a copy of the caller's context (logging and tracing context, the tests' call recording)
            read = [pool.submit(contextvars.copy_context().run, pages, key) for _, key in partitions]
            by_arm: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS}
            for (arm, _), done in zip(partitions, read, strict=True):
                by_arm[arm].extend(done.result())
        return by_arm

    def rows(self, scenario_id: str, *, assignments: bool = True) -> dict[str, dict[str, float]]:
        """Row key -> counters of one scenario (one Query; a scenario has a handful of rows).

        With `assignments`, the arm rows' (`*#treated#*`, `*#holdout#*`) `assigned` is the stored counter plus the
        runs on the `by_assignment` index: runs started before the index counted in that counter and are not on the
        index (`DynamoRunStore.save` never adds the attributes), newer runs only on the index, so the sum counts
        every run once and no migration is needed. Likewise `run_conversions` (and the holdout's `revenue`): the
        counter holds the (order, run) pairs counted before the run record held them, `by_conversion` the rest.
        Without it (readers of the step rows only), no index Query."""
        out = self._counter_rows(scenario_id)
        if assignments:
            add_run_counts(out, self.assignments(scenario_id), self.conversions(scenario_id))
        return out

    def _counter_rows(self, scenario_id: str) -> dict[str, dict[str, float]]:
        ddb = client("dynamodb")
        kwargs: dict[str, Any] = {
            "TableName": self.state,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"report#{scenario_id}"}},
        }
        out: dict[str, dict[str, float]] = {}
        while True:
            page = ddb.query(**kwargs)
            for item in page.get("Items", []):
                out[item["sk"]["S"]] = {
                    k: float(v["N"])
                    for k, v in item.items()
                    if "N" in v and (k in COUNTER_FIELDS or k.startswith(SKIPPED_PREFIX))
                }
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scenario_ids(self, limit: int, after: str | None) -> tuple[list[str], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.state,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "reports"}},
            "Limit": limit,
        }
        if after:
            kwargs["ExclusiveStartKey"] = {"pk": {"S": "reports"}, "sk": {"S": after}}
        page = client("dynamodb").query(**kwargs)
        ids = [i["sk"]["S"] for i in page.get("Items", [])]
        return ids, (page["LastEvaluatedKey"]["sk"]["S"] if "LastEvaluatedKey" in page else None)

    def mark_message(self, profile_id: str, sk: str, field: str, at: datetime) -> None:
        """First time of one provider fact on the message record (`delivered_at`, `bounced_at`...); only an existing
        record is touched, and a redelivered notification keeps the first time."""
        ddb = client("dynamodb")
        with contextlib.suppress(ddb.exceptions.ConditionalCheckFailedException):  # erased meanwhile: nothing to mark
            ddb.update_item(
                TableName=self.messages,
                Key={"pk": {"S": person_pk(profile_id)}, "sk": {"S": sk}},
                UpdateExpression="SET #f = if_not_exists(#f, :at)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#f": field},
                ExpressionAttributeValues={":at": {"S": iso(at)}},
            )

    # -- preference overrides -------------------------------------------------------------------------------------
    def set_preference(
        self, profile_id: str, channel: str, topic: str | None, status: str, now: datetime, source: str
    ) -> None:
        sk = f"pref#{channel}" + (f"#{topic}" if topic else "")
        client("dynamodb").put_item(
            TableName=self.messages,
            Item={
                "pk": {"S": person_pk(profile_id)},
                "sk": {"S": sk},
                "status": {"S": status},
                "at": {"S": iso(now)},
                "source": {"S": source},
            },
        )

    def preferences(self, profile_id: str) -> dict[str, dict[str, str]]:
        """`channel` or `channel#topic` -> {status, at, source} (one Query of the person's partition)."""
        page = client("dynamodb").query(
            TableName=self.messages,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": person_pk(profile_id)}, ":prefix": {"S": "pref#"}},
            ConsistentRead=True,
        )
        return {
            i["sk"]["S"].removeprefix("pref#"): {k: i[k]["S"] for k in ("status", "at", "source") if k in i}
            for i in page.get("Items", [])
        }

    # -- double opt-in requests -----------------------------------------------------------------------------------
    def put_pending(self, profile_id: str, request: dict[str, Any], now: datetime) -> None:
        """The latest subscription request (a newer one replaces it, so only its link confirms)."""
        client("dynamodb").put_item(
            TableName=self.messages,
            Item={
                "pk": {"S": person_pk(profile_id)},
                "sk": {"S": "pending#email"},
                "body": {"S": json.dumps({**request, "requested_at": iso(now)})},
                "expires_at": {"N": _epoch(now, 30)},
            },
        )

    def pending(self, profile_id: str) -> dict[str, Any] | None:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.messages,
                Key={"pk": {"S": person_pk(profile_id)}, "sk": {"S": "pending#email"}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        return json.loads(item["body"]["S"]) if item else None

    def take(self, bucket: str, limit: int, expires: datetime) -> bool:
        """One conditional ADD on a StateTable counter: atomic across concurrent functions, a replay counts again."""
        ddb = client("dynamodb")
        try:
            ddb.update_item(
                TableName=self.state,
                Key={"pk": {"S": "rate"}, "sk": {"S": bucket}},
                UpdateExpression="ADD uses :one SET expires_at = if_not_exists(expires_at, :ttl)",
                ConditionExpression="attribute_not_exists(uses) OR uses < :limit",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":ttl": {"N": str(int(expires.timestamp()))},
                },
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -- SMS confirmation codes ---------------------------------------------------------------------------------------
    def put_sms_code(self, tag: str, request: dict[str, Any], expires: datetime) -> None:
        """StateTable, keyed by the number's keyed hash: the confirm call knows the number, not the person."""
        client("dynamodb").put_item(
            TableName=self.state,
            Item={
                "pk": {"S": f"sms-code#{tag}"},
                "sk": {"S": "pending"},
                "body": {"S": json.dumps(request)},
                "request_id": {"S": str(request["request_id"])},
                "attempts": {"N": "0"},
                "valid_until": {"N": str(int(expires.timestamp()))},
                # TTL only tidies up (it may lag by days); validity is `valid_until`, checked on every attempt.
                "expires_at": {"N": str(int(expires.timestamp()) + 86400)},
            },
        )

    def sms_code_attempt(self, tag: str, max_attempts: int, now: datetime) -> dict[str, Any] | None:
        ddb = client("dynamodb")
        try:
            item = ddb.update_item(
                TableName=self.state,
                Key={"pk": {"S": f"sms-code#{tag}"}, "sk": {"S": "pending"}},
                UpdateExpression="ADD attempts :one",
                ConditionExpression="attribute_exists(pk) AND attempts < :max AND valid_until > :now",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":max": {"N": str(max_attempts)},
                    ":now": {"N": str(int(now.timestamp()))},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ddb.exceptions.ConditionalCheckFailedException:
            return None
        return {**json.loads(item["body"]["S"]), "attempts": int(item["attempts"]["N"])}

    def drop_sms_code(self, tag: str, request_id: str) -> bool:
        ddb = client("dynamodb")
        try:
            ddb.delete_item(
                TableName=self.state,
                Key={"pk": {"S": f"sms-code#{tag}"}, "sk": {"S": "pending"}},
                ConditionExpression="request_id = :request",
                ExpressionAttributeValues={":request": {"S": request_id}},
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -- touches --------------------------------------------------------------------------------------------------
    def add_touch(self, profile_id: str, touch: dict[str, Any], at: datetime) -> None:
        client("dynamodb").put_item(
            TableName=self.messages,
            Item={
                "pk": {"S": person_pk(profile_id)},
                "sk": {"S": f"touch#{iso(at)}#{touch['message_id']}#{touch['kind']}"},
                "body": {"S": json.dumps({**touch, "at": iso(at)})},
                "expires_at": {"N": _epoch(at, TOUCH_TTL_DAYS)},
            },
        )

    def touches(self, profile_id: str, since: datetime) -> list[dict[str, Any]]:
        page = client("dynamodb").query(
            TableName=self.messages,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": {"S": person_pk(profile_id)},
                ":lo": {"S": f"touch#{iso(since)}"},
                ":hi": {"S": "touch#\uffff"},
            },
            ConsistentRead=True,
        )
        return [json.loads(i["body"]["S"]) for i in page.get("Items", [])]


def _person_items(messages_table: str, profile_id: str) -> list[dict[str, Any]]:
    return query_all(
        TableName=messages_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": person_pk(profile_id)}},
    )


def export_person_messages(messages_table: str, keys: Any, due_table: str = "") -> list[dict[str, Any]]:
    """Access request: the person's runs, message records, send log, preferences and touches, the suppression of
    their addresses and their waiting steps, as stored: everything `erase_person_messages` deletes."""
    from chalicelib.scenarios.engine import ScenarioRun

    out = []
    due: list[dict[str, Any]] = []
    for pid in keys.profile_ids:
        for item in _person_items(messages_table, pid):
            out.append(plain({k: v for k, v in item.items() if k != "history"}))
            if due_table and item["sk"]["S"].startswith("run#") and "body" in item:
                due += _due_keys(due_table, ScenarioRun.model_validate_json(item["body"]["S"]))
    for key in keys.identity_keys:
        if key.startswith("email:"):
            raw = {"pk": {"S": suppression_pk("email", key.removeprefix("email:"))}, "sk": {"S": "-"}}
            suppressed = client("dynamodb").get_item(TableName=messages_table, Key=raw).get("Item")
            if suppressed is not None:
                out.append(plain(suppressed))
    for key in {json.dumps(k, sort_keys=True): k for k in due}.values():
        item = client("dynamodb").get_item(TableName=due_table, Key=key).get("Item")
        if item is not None:
            out.append(plain(item))
    return out


def erase_person_messages(messages_table: str, due_table: str, keys: Any, address_key: str = "") -> int:
    """Erasure hook: every item in the person's MessagesTable partitions (runs, message records, send log,
    preferences, touches), the suppression items of their addresses, and their DueTable items (found from the due
    times of their active runs: DueTable is keyed by hour, so the run tells us where to look).

    A suppressed address (bounce, complaint, unsubscribe) stays suppressed: with `address_key` (the signing key) its
    suppression is kept under a keyed hash of the address, never the address itself."""
    from chalicelib.scenarios.engine import ScenarioRun
    from chalicelib.shared.dynamodb import batch_write

    deletes: list[dict[str, Any]] = []
    due_deletes: list[dict[str, Any]] = []
    for pid in keys.profile_ids:
        for item in _person_items(messages_table, pid):
            deletes.append({"pk": item["pk"], "sk": item["sk"]})
            if item["sk"]["S"].startswith("run#") and "body" in item:
                due_deletes += _due_keys(due_table, ScenarioRun.model_validate_json(item["body"]["S"]))
    for key in keys.identity_keys:
        if key.startswith("email:"):
            address = key.removeprefix("email:")
            raw = {"pk": {"S": suppression_pk("email", address)}, "sk": {"S": "-"}}
            suppressed = client("dynamodb").get_item(TableName=messages_table, Key=raw).get("Item")
            if suppressed is not None and address_key:
                kept = {"pk": {"S": erased_suppression_pk("email", address, address_key)}, "sk": {"S": "-"}}
                kept["reason"] = suppressed.get("reason", {"S": "suppressed"})
                kept["at"] = suppressed.get("at", {"S": ""})
                client("dynamodb").put_item(TableName=messages_table, Item=kept)
            deletes.append(raw)
    # Two runs of one person look through overlapping hour buckets (and find each other's items): BatchWriteItem
    # rejects a request naming one key twice, so keep each key once.
    deletes = list({json.dumps(k, sort_keys=True): k for k in deletes}.values())
    due_deletes = list({json.dumps(k, sort_keys=True): k for k in due_deletes}.values())
    if deletes:
        batch_write(messages_table, [{"DeleteRequest": {"Key": k}} for k in deletes])
    if due_deletes:
        batch_write(due_table, [{"DeleteRequest": {"Key": k}} for k in due_deletes])
    return len(deletes) + len(due_deletes)


def _due_keys(due_table: str, run: Any) -> list[dict[str, Any]]:
    """Due items of one run: every hour bucket from its entry to its current due time (released items stay until
    their TTL, and they name the person), filtered to this person's refs. Erasure is rare; runs last days to weeks."""
    ddb = client("dynamodb")
    found: list[dict[str, Any]] = []
    bucket = run.entered_at.replace(minute=0, second=0, microsecond=0)
    end = max(run.due_at, run.updated_at or run.due_at)
    for _ in range(MAX_DUE_BUCKETS):
        if bucket > end:
            break
        kwargs: dict[str, Any] = {
            "TableName": due_table,
            "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "contains(sk, :ref)",
            "ExpressionAttributeValues": {":pk": {"S": due_bucket(bucket)}, ":ref": {"S": f"#{run.profile_id}#"}},
        }
        while True:
            page = ddb.query(**kwargs)
            found += [{"pk": i["pk"], "sk": i["sk"]} for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        bucket += timedelta(hours=1)
    return found


class DynamoDailyStore:
    """The daily series counters (`engagement/daily.py` says which rows exist and why each stays exact).

    StateTable: `daily#{day}` / `events|active|email` ADD counters; `dailybatch#{first sequence}` / `-` the marker of
    one counted stream batch (`last`: its last counted sequence; TTL like fact markers)."""

    def __init__(self, state_table: str) -> None:
        self.state = state_table

    def _add(self, day: str, sk: str, increments: dict[str, int], now: datetime) -> dict[str, Any]:
        names = {f"#c{n}": name for n, name in enumerate(increments)}
        values: dict[str, Any] = {f":c{n}": {"N": str(v)} for n, v in enumerate(increments.values())}
        adds = ", ".join(f"#c{n} :c{n}" for n in range(len(increments)))
        return {
            "Update": {
                "TableName": self.state,
                "Key": {"pk": {"S": f"daily#{day}"}, "sk": {"S": sk}},
                "UpdateExpression": f"ADD {adds} SET updated_at = :now",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {**values, ":now": {"S": iso(now)}},
            }
        }

    def add_batch(self, batch: Any, now: datetime) -> str | None:
        """Count one batch (`daily.BatchIncrements`) once: marker + one ADD per day row in one transaction.

        Returns None when counted (or nothing to count), else the last sequence already counted under this batch's
        marker (a re-delivery): the caller counts the records after it under their own marker."""
        if batch.empty or batch.first_sequence is None:
            return None
        updates = [self._add(day, sk, increments, now) for (day, sk), increments in sorted(batch.rows.items())]
        return add_once_per_batch(
            self.state,
            f"dailybatch#{batch.first_sequence}",
            str(batch.last_sequence),
            int(_epoch(now, FACT_TTL_DAYS)),
            updates[:99],  # a batch spans one or two days: far below a transaction's 100 items
        )

    def email_item(self, day: str, increments: dict[str, float], now: datetime) -> dict[str, Any]:
        """The TransactWriteItems entry adding per-message email outcomes to `daily#{day}` / `email` (it joins the
        report counter's transaction, behind the same fact marker)."""
        return self._add(day, "email", {k: int(v) for k, v in increments.items()}, now)

    def rows(self, days: list[str]) -> dict[tuple[str, str], dict[str, float]]:
        """(day, sk) -> counters for the given days (BatchGetItem, 100 keys a call)."""
        from chalicelib.engagement.daily import ROWS

        ddb = client("dynamodb")
        keys = [{"pk": {"S": f"daily#{day}"}, "sk": {"S": sk}} for day in days for sk in ROWS]
        out: dict[tuple[str, str], dict[str, float]] = {}
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {self.state: {"Keys": keys[start : start + 100]}}
            for _ in range(8):  # unprocessed keys come back under throttling: ask again, a few times
                answer = ddb.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.state, []):
                    plain_item = plain(item)
                    day = str(plain_item.pop("pk"))[len("daily#") :]
                    sk = str(plain_item.pop("sk"))
                    out[(day, sk)] = {k: float(v) for k, v in plain_item.items() if isinstance(v, int | float)}
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return out
