"""`PersonalData` on DynamoDB: events (the events table is keyed by profile: a Query per profile); identities by the
keys the person's profiles list (a Scan only for a profile written before it listed them); segment memberships by key,
in every segment that may hold one; and the identity and profile tombstones erasure leaves."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

from chalicelib.shared.aws import client
from chalicelib.shared.dynamodb import batch_get, query_all
from chalicelib.tracking.events import (
    ItemRef,
    TrackedEvent,
    expand,
    item_event_count,
    item_ref,
    rewrite_without,
    table_key,
)
from chalicelib.tracking.identity import ERASED, erased_identity_key, unlinked_bucket, unlinked_tag


class DynamoPersonalData:
    def __init__(
        self,
        events: str,
        identities: str,
        profiles: str,
        segment_members: str,
        segment_partitions: Callable[[], list[str]],
        secret: Callable[[], str] = lambda: "",
    ) -> None:
        self.events_table = events
        self.identities_table = identities
        self.profiles_table = profiles
        self.segment_members_table = segment_members
        # Every segment a member item may be stored under (`SegmentStore.member_partitions`): the members table has
        # no index by profile (an index entry per membership change cost as much as the item), so a person's
        # memberships are read by key, (segment, profile) for each.
        self.segment_partitions = segment_partitions
        self.secret = secret  # the signing key: tombstones are kept under a keyed hash of the identity

    @staticmethod
    def _by_profile(table: str, profile_ids: list[str], index: str | None = "by_profile") -> list[dict[str, Any]]:
        """Every item of `table` for these profiles, through its `by_profile` index (`index=None`: the table's own
        partitions, the events table's)."""
        items = []
        where = {"IndexName": index} if index else {}
        for pid in profile_ids:
            items.extend(
                query_all(
                    TableName=table,
                    KeyConditionExpression="profile_id = :p",
                    ExpressionAttributeValues={":p": {"S": pid}},
                    **where,
                )
            )
        return items

    def _event_items(self, profile_ids: list[str]) -> list[dict[str, Any]]:
        return self._by_profile(self.events_table, profile_ids, index=None)

    def identity_keys(self, profile_ids: list[str], candidates: Collection[str], *, complete: bool) -> set[str]:
        person = set(profile_ids)
        wanted = list(dict.fromkeys(candidates))
        found = {
            row["key"]["S"]: row["profile_id"]["S"]
            for row in batch_get(self.identities_table, [{"key": {"S": k}} for k in wanted], consistent=True)
        }
        keys = {k for k in wanted if k not in found or found[k] in person}
        if not complete:
            keys.update(self._scan_identities(person))
        return keys

    def _scan_identities(self, person: set[str]) -> set[str]:
        """The keys of every identity record naming one of these profile ids: a paginated Scan of the whole table,
        for a profile written before it listed its keys (superseded emails were linked unlisted). Erasure is rare,
        and `python -m local.list_identity_keys` (a one-off) lists the keys of older profiles."""
        ddb = client("dynamodb")
        ids = sorted(person)
        keys: set[str] = set()
        for start in range(0, len(ids), 100):  # at most 100 values in an IN
            chunk = {f":p{i}": {"S": pid} for i, pid in enumerate(ids[start : start + 100])}
            request: dict[str, Any] = {
                "TableName": self.identities_table,
                "ProjectionExpression": "#k, profile_id",
                "FilterExpression": f"profile_id IN ({', '.join(chunk)})",
                "ExpressionAttributeNames": {"#k": "key"},
                "ExpressionAttributeValues": chunk,
            }
            while True:
                page = ddb.scan(**request)
                keys.update(item["key"]["S"] for item in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return keys

    def events(self, profile_ids: list[str]) -> list[TrackedEvent]:
        # An item holds one event or a group (a request's events of one profile); a messageId re-sent in another
        # batch is stored twice: each key once.
        found: dict[str, TrackedEvent] = {}
        for item in self._event_items(profile_ids):
            for event in expand(item):
                found.setdefault(event.key, event)
        return list(found.values())

    def _unlinked_items(self, identity_keys: list[str]) -> list[tuple[dict[str, Any], list[TrackedEvent]]]:
        """The items of the unlinked (GPC) buckets of these identities, each with its events that are theirs (a
        bucket is shared by many senders; each event's keyed tag names its sender)."""
        secret = self.secret()
        out = []
        for key in identity_keys:
            for item in self._event_items([unlinked_bucket(key, secret)]):
                theirs = [e for e in expand(item) if unlinked_tag(key, e.key, secret) in e.flags]
                if theirs:
                    out.append((item, theirs))
        return out

    def unlinked_events(self, identity_keys: list[str]) -> list[TrackedEvent]:
        found = {e.key: e for _, events in self._unlinked_items(identity_keys) for e in events}
        return list(found.values())

    def erase_unlinked_events(self, identity_keys: list[str]) -> int:
        """Delete the person's unlinked events: their items, or (a group holding someone else's too) the group
        rewritten without them. Returns how many events were erased."""
        drop: dict[ItemRef, set[str]] = {}
        items: dict[ItemRef, dict[str, Any]] = {}
        for item, theirs in self._unlinked_items(identity_keys):
            ref = item_ref(item)
            items[ref] = item
            drop.setdefault(ref, set()).update(e.key for e in theirs)
        deletes, rewrites = [], []
        for ref, item in items.items():
            kept = rewrite_without(item, drop[ref])  # the same key: a rewrite in place
            if kept is None:
                deletes.append(table_key(ref))
            else:
                rewrites.append(kept)
        _delete_keys(self.events_table, deletes)
        if rewrites:
            from chalicelib.shared.dynamodb import batch_write

            batch_write(self.events_table, [{"PutRequest": {"Item": item}} for item in rewrites])
        return sum(len(keys) for keys in drop.values())

    def _memberships(self, profile_ids: list[str]) -> list[dict[str, Any]]:
        """The member items of these profiles: a BatchGetItem over every listed segment x profile (a few hundred keys
        for a person, a read unit each, found or not; no scan). Strongly consistent: a membership written just before
        the erasure must be found."""
        keys = [
            {"segment_id": {"S": segment_id}, "profile_id": {"S": profile_id}}
            for segment_id in dict.fromkeys(self.segment_partitions())
            for profile_id in dict.fromkeys(profile_ids)
        ]
        return batch_get(self.segment_members_table, keys, consistent=True, projection="segment_id, profile_id")

    def segment_ids(self, profile_ids: list[str]) -> list[str]:
        return [i["segment_id"]["S"] for i in self._memberships(profile_ids)]

    def erase_events(self, profile_ids: list[str]) -> int:
        """Delete every item of these profiles (groups whole: a group is one profile's). Returns the events deleted."""
        items = self._event_items(profile_ids)
        _delete_keys(self.events_table, [table_key(item_ref(i)) for i in items])
        return sum(item_event_count(i) for i in items)

    def erase_memberships(self, profile_ids: list[str]) -> int:
        items = self._memberships(profile_ids)
        keys = [{"segment_id": i["segment_id"], "profile_id": i["profile_id"]} for i in items]
        return _delete_keys(self.segment_members_table, keys)

    def tombstone_identity(self, key: str, at: str) -> None:
        # Tombstone first, then the raw record: in between the identity resolves to `erased` either way.
        ddb = client("dynamodb")
        hashed = erased_identity_key(key, self.secret())
        ddb.put_item(
            TableName=self.identities_table,
            Item={"key": {"S": hashed}, "profile_id": {"S": ERASED}, "erased_at": {"S": at}},
        )
        ddb.delete_item(TableName=self.identities_table, Key={"key": {"S": key}})

    def tombstone_profile(self, profile_id: str, version: int, at: str) -> None:
        # The tombstone keeps no personal data: an id, a version (so stream consumers see an exit) and the date.
        client("dynamodb").put_item(
            TableName=self.profiles_table,
            Item={
                "profile_id": {"S": profile_id},
                "version": {"N": str(version)},
                "body": {"S": json.dumps({"profile_id": profile_id, "erased": True})},
                "stage": {"S": "erased"},
                "erased_at": {"S": at},
            },
        )


def _delete_keys(table: str, keys: list[dict[str, Any]]) -> int:
    from chalicelib.shared.dynamodb import batch_write

    if keys:
        batch_write(table, [{"DeleteRequest": {"Key": k}} for k in keys])
    return len(keys)
