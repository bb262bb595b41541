"""Events and failed events in DynamoDB."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.shared.aws import client
from chalicelib.shared.dynamodb import batch_write, query_all
from chalicelib.shared.secrets import keyed_digest
from chalicelib.tracking.events import (
    ItemRef,
    StreamEvent,
    TrackedEvent,
    expand,
    group_item,
    group_items,
    iso,
    item_event_count,
    item_ref,
    moved,
    table_key,
    time_bucket,
)
from chalicelib.tracking.identity import person_refs
from chalicelib.tracking.ports import FailedEvent


class DynamoEventStore:
    """The events table, keyed by (`profile_id`, `ts_key`): a profile's history is a Query of its partition."""

    def __init__(self, table: str, ttl_days: int) -> None:
        self.table = table
        self.ttl_seconds = ttl_days * 86400

    def _expires(self, event: TrackedEvent) -> int:
        return int(event.received_at.timestamp()) + self.ttl_seconds

    def put_new(self, event: TrackedEvent) -> bool:
        """One event (the single-event paths): an item of its own, written only if its key is not stored yet.

        The condition is on the item's whole key (profile, event time, event key): a delivery retried with the same
        message is refused. A messageId re-sent with another corrected time (or resolved to another profile) is a
        second item, as a re-sent batch's is: readers take each key once, the fold's replay guard applies it once."""
        ddb = client("dynamodb")
        try:
            ddb.put_item(
                TableName=self.table,
                Item=event.to_item(self._expires(event)),
                ConditionExpression="attribute_not_exists(ts_key)",
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def put_many(self, events: list[TrackedEvent]) -> None:
        """Rewrite stored events (re-pointed by the fold, a replay) where they are stored (`stored_in`). An event whose
        profile changed MOVES: Put under its new profile (marked `moved_from`: stream readers skip it) and Delete the
        old key. An event stored in a group item rewrites that item: the group's other events are read back (one
        GetItem per group) and kept, so a group whose events now name different profiles is split into one item per
        profile (the stored profile's keeps the key; the others are moved copies). A stream event learns its new
        item (`StreamEvent.stored_at`): the fold lists it in `folded_in`."""
        puts: list[dict[str, Any]] = []
        deletes: list[ItemRef] = []
        by_item: dict[ItemRef, list[TrackedEvent]] = {}
        for event in events:
            ref = event.stored_in()
            if isinstance(event, StreamEvent) and event.item_pk:
                by_item.setdefault(ref, []).append(event)
                continue
            item = event.full().to_item(self._expires(event))
            if ref != item_ref(item):
                puts.append(moved(item, ref[0]))
                deletes.append(ref)
            else:
                puts.append(item)
            if isinstance(event, StreamEvent):
                event.stored_at(item)
        ddb = client("dynamodb")
        for ref, changed in by_item.items():
            stored = ddb.get_item(TableName=self.table, Key=table_key(ref), ConsistentRead=True).get("Item")
            if stored is None:
                continue  # deleted or moved meanwhile (erasure, TTL, a merge): nothing to re-point
            items = _repointed(stored, changed)
            if all(item_ref(item) != ref for item in items):
                deletes.append(ref)
            puts += [item if item_ref(item) == ref else moved(item, ref[0]) for item in items]
            placed = {e.key: item for item in items for e in expand(item)}
            for event in changed:
                if isinstance(event, StreamEvent) and event.key in placed:
                    event.stored_at(placed[event.key])
        # Puts first: a crash in between leaves a copy (skipped by stream readers, read once by key), never a loss.
        if puts:
            batch_write(self.table, [{"PutRequest": {"Item": item}} for item in puts])
        self.delete(deletes)

    def put_batch(self, events: list[TrackedEvent]) -> list[TrackedEvent]:
        """One item per profile (`events.group_items`), in BatchWriteItem requests of 25, with no read first.

        A re-sent batch writes the same items again (same keys: stream MODIFYs, never folded or archived twice); a
        messageId re-sent in another composition lands in another item, and the fold's replay guard (the profile's
        applied tags of the last 26 hours, profiles/fold.py) applies it once. Readers of the table (history, the
        export, the scenario consumer) take each key once. What this saves against the read-then-write it replaced:
        the read unit per event, and all but one write unit per visitor and request.
        """
        unique = list({e.key: e for e in events}.values())
        by_profile: dict[str, list[TrackedEvent]] = {}
        for event in unique:
            by_profile.setdefault(event.profile_id, []).append(event)
        items = [item for group in by_profile.values() for item in group_items(group, self._expires(group[0]))]
        if items:
            batch_write(self.table, [{"PutRequest": {"Item": item}} for item in items])
        return unique

    def history(
        self, profile_id: str, limit: int = 50, newest_first: bool = True, merged_from: Sequence[str] = ()
    ) -> list[TrackedEvent]:
        own = history_order(self._items_of(profile_id, newest_first, limit), limit, newest_first)
        if not merged_from:
            return own
        # A merge leaves the loser's items where they are (moving them cost a Put and a Delete per item): the winner's
        # history is the first `limit` of each partition's first `limit`, each key once.
        seen = {e.key: e for e in own}
        for other in dict.fromkeys(merged_from):
            for event in history_order(self._items_of(other, newest_first, limit), limit, newest_first):
                seen.setdefault(event.key, event)
        return _ranked(seen.values(), newest_first)[:limit]

    def _items_of(self, profile_id: str, newest_first: bool, limit: int) -> Iterator[dict[str, Any]]:
        ddb = client("dynamodb")
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "profile_id = :p",
            "ExpressionAttributeValues": {":p": {"S": profile_id}},
            "ScanIndexForward": not newest_first,
        }
        if newest_first:
            # Items: one more than `limit` event items, so that `history_order` can stop after one page.
            kwargs["Limit"] = max(1, min(limit, 100)) + 1
        while True:
            page = ddb.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            if newest_first:
                kwargs["Limit"] = 100  # the rest of a busy hour: items in one hour are in pk order, read them all

    def delete(self, refs: list[ItemRef]) -> None:
        """Delete items by their key (`TrackedEvent.stored_in`: an event's own item, or its group's)."""
        batch_write(self.table, [{"DeleteRequest": {"Key": table_key(ref)}} for ref in dict.fromkeys(refs)])

    def repoint(self, from_profile: str, to_profile: str) -> int:
        """Move a profile's items (groups whole) to another's partition: each Put under the new profile (a moved copy,
        which stream readers skip), then the old Deleted, a page at a time."""
        moved_events = 0
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "profile_id = :p",
            "ExpressionAttributeValues": {":p": {"S": from_profile}},
        }
        ddb = client("dynamodb")
        while True:
            page = ddb.query(**kwargs)
            items = page.get("Items", [])
            if items:
                copies = [moved({**item, "profile_id": {"S": to_profile}}, from_profile) for item in items]
                batch_write(self.table, [{"PutRequest": {"Item": item}} for item in copies])
                self.delete([item_ref(item) for item in items])
                moved_events += sum(item_event_count(item) for item in items)
            if "LastEvaluatedKey" not in page:
                return moved_events
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _repointed(stored: dict[str, Any], changed: list[TrackedEvent]) -> list[dict[str, Any]]:
    """A group item with some of its events replaced by `changed` (a new profile id): one item per profile, the
    stored item's own profile (or, when every event moved, the first) keeping its pk and `ts_key`."""
    by_key = {e.key: e for e in changed}
    expires = int(stored["expires_at"]["N"]) if "expires_at" in stored else None
    by_profile: dict[str, list[tuple[TrackedEvent, bytes]]] = {}
    for event in expand(stored):
        current = by_key.get(event.key, event).full()
        by_profile.setdefault(current.profile_id, []).append((current, _body(current)))
    stored_profile = stored["profile_id"]["S"]
    first = stored_profile if stored_profile in by_profile else next(iter(by_profile))
    items = [group_item(by_profile.pop(first), expires, pk=stored["pk"]["S"], ts_key=stored["ts_key"]["S"])]
    items += [item for entries in by_profile.values() for item in group_items([e for e, _ in entries], expires)]
    return items


def history_order(items: Iterable[dict[str, Any]], limit: int, newest_first: bool = True) -> list[TrackedEvent]:
    """The first `limit` events by (time, message id) of items read from a profile's partition in `ts_key` order, each
    key once (a messageId re-sent in another batch is stored twice).

    An item's `ts_key` starts with the hour of its latest event (a group's, or an upper bound of it after a rewrite),
    so reading newest first can stop exactly: once the `limit`-th newest event read is in a later hour than the last
    item read, no later item (their `ts_key` is lower) holds a newer one; `limit` event items are then about one Query
    page of `limit + 1` (more when the hour of the `limit`-th event holds more). Oldest first has no such bound (a
    group's earliest event can be older than its `ts_key`) and reads every item: only tests and tools ask for it.
    """
    if limit <= 0:
        return []
    seen: dict[str, TrackedEvent] = {}
    for item in items:
        for event in expand(item):
            seen.setdefault(event.key, event)
        if newest_first and len(seen) >= limit:
            hour = time_bucket(_ranked(seen.values(), True)[limit - 1].timestamp)
            if hour > item.get("ts_key", {}).get("S", "").split("#", 1)[0]:
                break
    return _ranked(seen.values(), newest_first)[:limit]


class DynamoFailedEventStore:
    """Snowplow-style bad rows: what failed, why, and the raw input (truncated), kept for a while and listable.

    Rows are keyed by day (`day`, `id`: the operator's listing is a Query of one day), which erasure cannot find by
    person without reading every day. So each row also gets one pointer item per person ref in it
    (`identity.person_refs`): `day = ref#<keyed hash of the ref>`, `id = <row day>#<row id>`, same TTL, no other
    attribute. Pointers rather than a GSI: a row can hold several refs (userId, anonymousId, email, profile id) and an
    index key is one attribute; bad rows are rare, so the extra PutItems (one per ref, usually 1-3) cost nothing that
    shows, and the day listing never sees the pointers (their `day` is no date). The row lists its pointers (`refs`),
    so erasing it through one ref removes the others too.
    """

    MAX_RAW_CHARS = 16_000
    REF_PREFIX = "ref#"

    def __init__(self, table: str, ttl_days: int, secret: Callable[[], str] = lambda: "") -> None:
        self.table = table
        self.ttl_seconds = ttl_days * 86400
        self.secret = secret

    def _pointer(self, ref: str, secret: str) -> str:
        return self.REF_PREFIX + keyed_digest(secret, "failed", ref)[:40]

    def record(self, source_id: str | None, reason: dict[str, Any], raw: Any) -> None:
        now = datetime.now(UTC)
        raw_text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
        day, row_id = now.strftime("%Y-%m-%d"), f"{now.strftime('%H:%M:%S.%f')}#{uuid.uuid4().hex[:12]}"
        expires = {"N": str(int(now.timestamp()) + self.ttl_seconds)}
        refs = person_refs(raw)
        pointers = sorted({self._pointer(ref, self.secret()) for ref in refs}) if refs else []
        item: dict[str, Any] = {
            "day": {"S": day},
            "id": {"S": row_id},
            "source_id": {"S": source_id or "-"},
            "reason": {"S": json.dumps(reason)},
            "raw": {"S": raw_text[: self.MAX_RAW_CHARS] or "-"},
            "truncated": {"BOOL": len(raw_text) > self.MAX_RAW_CHARS},
            "received_at": {"S": now.isoformat()},
            "expires_at": expires,
        }
        if pointers:
            item["refs"] = {"SS": pointers}
        ddb = client("dynamodb")
        # Pointers first: a crash between the writes leaves a pointer to nothing, never a row erasure cannot find.
        for pointer in pointers:
            ddb.put_item(
                TableName=self.table,
                Item={"day": {"S": pointer}, "id": {"S": f"{day}#{row_id}"}, "expires_at": expires},
            )
        ddb.put_item(TableName=self.table, Item=item)

    def _rows_of(self, refs: list[str]) -> tuple[list[dict[str, Any]], set[str]]:
        """The rows pointed at by these refs (BatchGetItem) and every pointer partition that names them."""
        secret = self.secret()
        keys: dict[tuple[str, str], dict[str, Any]] = {}
        for pointer in {self._pointer(ref, secret) for ref in refs}:
            for item in query_all(
                TableName=self.table,
                KeyConditionExpression="#d = :d",
                ExpressionAttributeNames={"#d": "day"},
                ExpressionAttributeValues={":d": {"S": pointer}},
            ):
                day, row_id = item["id"]["S"].split("#", 1)
                keys[(day, row_id)] = {"day": {"S": day}, "id": {"S": row_id}}
        rows: list[dict[str, Any]] = []
        wanted = list(keys.values())
        ddb = client("dynamodb")
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {self.table: {"Keys": wanted[start : start + 100]}}
            while request:
                response = ddb.batch_get_item(RequestItems=request)
                rows.extend(response.get("Responses", {}).get(self.table, []))
                request = response.get("UnprocessedKeys") or {}
        return rows, {p for row in rows for p in row.get("refs", {}).get("SS", [])}

    def of_person(self, refs: list[str]) -> list[FailedEvent]:
        rows, _ = self._rows_of(refs)
        return sorted((_row(item) for item in rows), key=lambda r: (r["day"], r["id"]))

    def erase_person(self, refs: list[str]) -> int:
        rows, pointers = self._rows_of(refs)
        deletes = [{"day": row["day"], "id": row["id"]} for row in rows]
        for row in rows:
            target = f"{row['day']['S']}#{row['id']['S']}"
            deletes += [{"day": {"S": p}, "id": {"S": target}} for p in row.get("refs", {}).get("SS", [])]
        if deletes:
            batch_write(self.table, [{"DeleteRequest": {"Key": k}} for k in deletes])
        return len(rows)

    def list(self, day: str, limit: int = 50, cursor: str | None = None) -> tuple[list[FailedEvent], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#d = :d",
            "ExpressionAttributeNames": {"#d": "day"},
            "ExpressionAttributeValues": {":d": {"S": day}},
            "Limit": limit,
            "ScanIndexForward": False,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        page = client("dynamodb").query(**kwargs)
        rows: list[FailedEvent] = [_row(item) for item in page.get("Items", [])]
        next_cursor = None
        if "LastEvaluatedKey" in page:
            next_cursor = base64.urlsafe_b64encode(json.dumps(page["LastEvaluatedKey"]).encode()).decode()
        return rows, next_cursor


def _row(item: dict[str, Any]) -> FailedEvent:
    return {
        "id": item["id"]["S"],
        "day": item["day"]["S"],
        "source_id": item["source_id"]["S"],
        "reason": json.loads(item["reason"]["S"]),
        "raw": item["raw"]["S"],
        "truncated": item.get("truncated", {}).get("BOOL", False),
        "received_at": item["received_at"]["S"],
    }


def _sort_key(event: TrackedEvent) -> tuple[str, str]:
    return iso(event.timestamp), event.message_id  # the order of an event item's `ts_key`


def _ranked(events: Iterable[TrackedEvent], newest_first: bool) -> list[TrackedEvent]:
    return sorted(events, key=_sort_key, reverse=newest_first)


def _body(event: TrackedEvent) -> bytes:
    return event.to_json().encode()
