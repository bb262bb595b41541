"""Privacy rights: access (export everything held about a person) and erasure (by key, with tombstones)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.profiles.ports import ProfileStore
from chalicelib.profiles.redirects import follow_merges
from chalicelib.shared.aws import client
from chalicelib.shared.clock import Clock
from chalicelib.shared.dynamodb import query_all
from chalicelib.tracking.events import TrackedEvent
from chalicelib.tracking.identity import identity_key

ERASED = "erased"  # the profile id an erased identity resolves to: ingest drops its events


class NotFound(Exception):
    pass


@dataclass
class PersonKeys:
    """Every key under which something about one person is stored."""

    profile_id: str
    profile_ids: list[str]  # the profile and every profile merged into it
    identity_keys: list[str]


@dataclass
class PersonalDataStore:
    """A table holding data about people, exported and erased by key (never by scan). Later features register theirs
    (messages, scenario runs, schedules) so erasure stays complete as the product grows."""

    name: str
    export: Callable[[PersonKeys], list[dict[str, Any]]]
    erase: Callable[[PersonKeys], int]


@dataclass
class PrivacyTables:
    events: str
    identities: str
    profiles: str
    segment_members: str
    extra: list[PersonalDataStore] = field(default_factory=list)


def _delete_keys(table: str, keys: list[dict[str, Any]]) -> int:
    from chalicelib.tracking.adapters.dynamodb_events import batch_write

    if keys:
        batch_write(table, [{"DeleteRequest": {"Key": k}} for k in keys])
    return len(keys)


class PrivacyService:
    def __init__(self, tables: PrivacyTables, clock: Clock, profiles: ProfileStore) -> None:
        self.t = tables
        self.clock = clock
        self.profiles = profiles

    def keys_for(self, profile_id: str) -> tuple[PersonKeys, dict[str, Any]]:
        profile_id, stored = follow_merges(self.profiles, profile_id)
        if stored is None or stored.erased:
            raise NotFound(f"profile {profile_id} not found")
        body = stored.document()
        body["version"] = stored.version
        profile_ids = [profile_id, *body.get("merged_from", [])]
        keys = {row["key"]["S"] for row in self._by_profile(self.t.identities, profile_ids)}
        if body.get("user_id"):
            keys.add(identity_key("user", body["user_id"]))
        if body.get("email"):
            keys.add(identity_key("email", body["email"]))
        for anon in body.get("anonymous_ids", []):
            keys.add(identity_key("anon", anon))
        return PersonKeys(profile_id, profile_ids, sorted(keys)), body

    @staticmethod
    def _by_profile(table: str, profile_ids: list[str]) -> list[dict[str, Any]]:
        """Every item of `table` for these profiles, through its `by_profile` index (a Query per profile, no scan)."""
        items = []
        for pid in profile_ids:
            items.extend(
                query_all(
                    TableName=table,
                    IndexName="by_profile",
                    KeyConditionExpression="profile_id = :p",
                    ExpressionAttributeValues={":p": {"S": pid}},
                )
            )
        return items

    def _events(self, profile_ids: list[str]) -> list[dict[str, Any]]:
        return self._by_profile(self.t.events, profile_ids)

    def _memberships(self, profile_ids: list[str]) -> list[dict[str, Any]]:
        return self._by_profile(self.t.segment_members, profile_ids)

    def export(self, profile_id: str) -> dict[str, Any]:
        """Right of access: everything we hold about the person, as JSON."""
        keys, body = self.keys_for(profile_id)
        body.pop("applied", None)
        body.pop("folded", None)
        events = sorted(
            (TrackedEvent.from_item(i).summary() for i in self._events(keys.profile_ids)),
            key=lambda e: e["timestamp"],
        )
        out: dict[str, Any] = {
            "profile_id": keys.profile_id,
            "exported_at": self.clock.now().isoformat(),
            "profile": body,
            "merged_profile_ids": keys.profile_ids[1:],
            "identities": keys.identity_keys,
            "events": events,
            "segments": sorted({i["segment_id"]["S"] for i in self._memberships(keys.profile_ids)}),
        }
        for store in self.t.extra:
            out[store.name] = store.export(keys)
        return out

    def erase(self, profile_id: str) -> dict[str, Any]:
        """Right to erasure: delete by key in every table, then leave tombstones so late events cannot resurrect the
        person (their identities resolve to `erased`, which ingest drops, and the fold deletes anything in flight)."""
        keys, body = self.keys_for(profile_id)
        now = self.clock.now().isoformat()
        counts: dict[str, int] = {}
        counts["events"] = _delete_keys(self.t.events, [{"pk": i["pk"]} for i in self._events(keys.profile_ids)])
        memberships = self._memberships(keys.profile_ids)
        counts["segment_memberships"] = _delete_keys(
            self.t.segment_members,
            [{"segment_id": i["segment_id"], "profile_id": i["profile_id"]} for i in memberships],
        )
        for store in self.t.extra:
            counts[store.name] = store.erase(keys)
        ddb = client("dynamodb")
        for key in keys.identity_keys:
            ddb.put_item(
                TableName=self.t.identities,
                Item={"key": {"S": key}, "profile_id": {"S": ERASED}, "erased_at": {"S": now}},
            )
        counts["identities"] = len(keys.identity_keys)
        for pid in keys.profile_ids:
            # The tombstone keeps no personal data: an id, a version (so stream consumers see an exit) and the date.
            ddb.put_item(
                TableName=self.t.profiles,
                Item={
                    "profile_id": {"S": pid},
                    "version": {"N": str(body["version"] + 1 if pid == keys.profile_id else 1)},
                    "body": {"S": json.dumps({"profile_id": pid, "erased": True})},
                    "stage": {"S": "erased"},
                    "erased_at": {"S": now},
                },
            )
        counts["profiles"] = len(keys.profile_ids)
        return {"profile_id": keys.profile_id, "erased_at": now, "deleted": counts}
