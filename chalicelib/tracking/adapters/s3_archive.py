"""The event archive in S3 (`ArchiveBucket`) with its bookkeeping in the StateTable:
- `pk=archive#<profile id>, sk=<day>`: the per-person day index, which erasure reads instead of listing partitions
  (with the days profiles hold: only pairs no profile written in the same batch covers);
- `pk=archive_dirty, sk=<day>`: token (the last key written): a day written since its last compaction;
- `pk=archive_erased#<day>, sk=<erasure id>`: finished (bool): an erasure on that day, naming no one (a week);
- `pk=archive_failed, sk=<first seq>-<last seq>`: keys (event keys) of a batch whose write failed, until refilled
  (expires with the events themselves: after that there is nothing left to refill from).
The events table is read (BatchGetItem) only by the refill."""

from __future__ import annotations

import contextlib
import gzip
import json
import secrets
import time
from collections.abc import Collection, Iterator
from typing import Any

from chalicelib.shared.aws import client
from chalicelib.shared.dynamodb import batch_write, query_all
from chalicelib.tracking.archive import PREFIX
from chalicelib.tracking.events import ItemRef, table_key

INDEX_PREFIX = "archive#"
DIRTY_PK = "archive_dirty"
ERASED_PREFIX = "archive_erased#"
FAILED_PK = "archive_failed"
ERASURE_NOTE_SECONDS = 7 * 86_400
# (profile, day) pairs this container has written to the day list; a warm fold container sees the same visitors batch
# after batch, and each pair needs writing once. Bounded (~100 bytes a pair); cleared whole when full.
REMEMBERED_MAX = 50_000


class S3EventArchive:
    def __init__(self, bucket: str, state_table: str, events_table: str = "", event_ttl_days: int = 395) -> None:
        self.bucket = bucket
        self.state_table = state_table
        self.events_table = events_table
        self.event_ttl_seconds = event_ttl_days * 86_400
        self._remembered: set[tuple[str, str]] = set()

    def put(self, key: str, body: bytes) -> None:
        client("s3").put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/x-ndjson", ContentEncoding="gzip"
        )

    def get(self, key: str) -> bytes:
        body = client("s3").get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def find(self, key: str) -> bytes | None:
        s3 = client("s3")
        try:
            return self.get(key)
        except s3.exceptions.NoSuchKey:
            return None

    def lines(self, key: str, events: Collection[str]) -> Iterator[dict[str, Any]]:
        """The object's lines whose `event` is one of `events`, streamed and inflated piece by piece (a compacted day
        never sits in memory whole); a line naming none of them is skipped without decoding. Nothing if it is gone."""
        s3 = client("s3")
        # `archive.encode` writes compact JSON: a wanted line contains `"event":"<name>"` verbatim
        needles = [
            json.dumps({"event": name}, separators=(",", ":"), ensure_ascii=False)[1:-1].encode() for name in events
        ]
        try:
            body = s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        except s3.exceptions.NoSuchKey:
            return
        try:
            with gzip.GzipFile(fileobj=body) as raw_lines:
                for raw in raw_lines:
                    if any(needle in raw for needle in needles):
                        line = json.loads(raw)
                        if line.get("event") in events:
                            yield line
        finally:
            body.close()

    def archived_days(self, first: str, last: str) -> set[str]:
        """The days from `first` to `last` that have an archive partition: one listing of the partitions (by
        delimiter, not of their objects), so a job walking days skips empty ones without a request each."""
        pages = (
            client("s3")
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=f"{PREFIX}dt=", Delimiter="/", StartAfter=f"{PREFIX}dt={first}")
        )
        days: set[str] = set()
        for page in pages:
            for common in page.get("CommonPrefixes", []):
                day = common["Prefix"][len(PREFIX) + 3 : -1]
                if day > last:
                    return days
                if day >= first:
                    days.add(day)
        return days

    def delete(self, key: str) -> None:
        client("s3").delete_object(Bucket=self.bucket, Key=key)

    def keys(self, prefix: str) -> list[str]:
        pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def remember(self, profile_days: list[tuple[str, str]]) -> None:
        """Add days to the per-person day lists; a pair this container already wrote is not written again (a returning
        visitor's every batch of the day cost a write unit). A pair written elsewhere is written again: a put of the
        same item, harmless. Erasure deletes the lists, but an erased person's events never reach the archive again."""
        fresh = [pair for pair in dict.fromkeys(profile_days) if pair not in self._remembered]
        requests = [
            {"PutRequest": {"Item": {"pk": {"S": INDEX_PREFIX + profile_id}, "sk": {"S": day}}}}
            for profile_id, day in fresh
        ]
        batch_write(self.state_table, requests)
        if len(self._remembered) + len(fresh) > REMEMBERED_MAX:
            self._remembered.clear()
        self._remembered.update(fresh)

    def _index(self, profile_ids: list[str]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for profile_id in profile_ids:
            items = query_all(
                TableName=self.state_table,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": INDEX_PREFIX + profile_id}},
                ProjectionExpression="sk",
            )
            out.extend((profile_id, item["sk"]["S"]) for item in items)
        return out

    def days(self, profile_ids: list[str]) -> set[str]:
        return {day for _, day in self._index(profile_ids)}

    def forget(self, profile_ids: list[str]) -> None:
        requests = [
            {"DeleteRequest": {"Key": {"pk": {"S": INDEX_PREFIX + profile_id}, "sk": {"S": day}}}}
            for profile_id, day in self._index(profile_ids)
        ]
        batch_write(self.state_table, requests)

    # -- compaction ------------------------------------------------------------------------------------------------
    def written(self, day_tokens: list[tuple[str, str]]) -> None:
        requests = [
            {"PutRequest": {"Item": {"pk": {"S": DIRTY_PK}, "sk": {"S": day}, "token": {"S": token}}}}
            for day, token in day_tokens
        ]
        batch_write(self.state_table, requests)

    def dirty_days(self) -> dict[str, str]:
        items = query_all(
            TableName=self.state_table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": DIRTY_PK}},
        )
        return {item["sk"]["S"]: item.get("token", {}).get("S", "") for item in items}

    def clean(self, day: str, token: str) -> None:
        ddb = client("dynamodb")
        with contextlib.suppress(ddb.exceptions.ConditionalCheckFailedException):  # written again: stays marked
            ddb.delete_item(
                TableName=self.state_table,
                Key={"pk": {"S": DIRTY_PK}, "sk": {"S": day}},
                ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={":t": {"S": token}},
            )

    def erasure_started(self, days: list[str]) -> str:
        erasure_id = secrets.token_hex(8)
        self._note(days, erasure_id, finished=False)
        return erasure_id

    def erasure_finished(self, days: list[str], erasure_id: str) -> None:
        self._note(days, erasure_id, finished=True)

    def _note(self, days: list[str], erasure_id: str, *, finished: bool) -> None:
        expires = {"N": str(int(time.time()) + ERASURE_NOTE_SECONDS)}
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": ERASED_PREFIX + day},
                        "sk": {"S": erasure_id},
                        "finished": {"BOOL": finished},
                        "expires_at": expires,
                    }
                }
            }
            for day in days
        ]
        batch_write(self.state_table, requests)

    def erasures(self, day: str) -> dict[str, bool]:
        items = query_all(
            TableName=self.state_table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": ERASED_PREFIX + day}},
            ConsistentRead=True,
        )
        return {item["sk"]["S"]: bool(item.get("finished", {}).get("BOOL")) for item in items}

    # -- refill ------------------------------------------------------------------------------------------------------
    def save_failed(self, first: str, last: str, keys: list[ItemRef]) -> None:
        client("dynamodb").put_item(
            TableName=self.state_table,
            Item={
                "pk": {"S": FAILED_PK},
                "sk": {"S": f"{first}-{last}"},
                "keys": {"L": [{"L": [{"S": profile_id}, {"S": ts_key}]} for profile_id, ts_key in keys]},
                "expires_at": {"N": str(int(time.time()) + self.event_ttl_seconds)},
            },
        )

    def failed(self) -> list[tuple[str, str, list[ItemRef]]]:
        items = query_all(
            TableName=self.state_table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": FAILED_PK}},
        )
        out = []
        for item in items:
            first, _, last = item["sk"]["S"].partition("-")
            # (profile id, ts_key) pairs; a row saved before the events table was keyed by profile holds pks of the
            # old table, of nothing in this one: an empty refill, then dropped.
            keys = [
                (k["L"][0]["S"], k["L"][1]["S"]) for k in item.get("keys", {}).get("L", []) if len(k.get("L", ())) == 2
            ]
            out.append((first, last, keys))
        return out

    def refilled(self, first: str, last: str) -> None:
        client("dynamodb").delete_item(
            TableName=self.state_table, Key={"pk": {"S": FAILED_PK}, "sk": {"S": f"{first}-{last}"}}
        )

    def source_images(self, keys: list[ItemRef]) -> list[dict[str, Any]]:
        ddb = client("dynamodb")
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {self.events_table: {"Keys": [table_key(k) for k in keys[start : start + 100]]}}
            while request:
                response = ddb.batch_get_item(RequestItems=request)
                found.extend(response.get("Responses", {}).get(self.events_table, []))
                request = response.get("UnprocessedKeys") or {}
        return found
