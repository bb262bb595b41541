"""The definitions store in the StateTable: heads, immutable versions, audit entries and per-kind revision counters.

Items (pk, sk):
- `def#<kind>`, `<id>`: the head (version, enabled, body JSON, updated_at/by, changes): one Query lists a kind's
  heads with their bodies, which is all a cache reload reads;
- `def#<kind>#<id>`, `v#<version:08>`: an immutable version (body, created_at/by);
- `def#<kind>#<id>`, `a#<seq:08>`: an audit entry (action, version, by, at, changed paths);
- `def#rev`, `<kind>`: the kind's revision counter (`rev`), bumped in the same transaction as each change.

Why the StateTable and not a table of its own: it already has PITR, Retain and encryption, every function's policy
already reaches it, and definitions are few (hundreds of items), so they need no capacity or index of their own.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from chalicelib.definitions.diff import changed_paths
from chalicelib.definitions.exceptions import DefinitionConflict, DefinitionNotFound
from chalicelib.definitions.model import AuditEntry, Definition, DefinitionVersion, check_key
from chalicelib.shared.aws import client
from chalicelib.shared.dynamodb import query_all
from chalicelib.tracking.events import iso

REVISION_PK = "def#rev"
MAX_ATTEMPTS = 5  # saves without expected_version retry on a lost race; each retry re-reads the head


def _dump(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _head_from(kind: str, item: dict[str, Any]) -> Definition:
    return Definition(
        kind=kind,
        id=item["sk"]["S"],
        version=int(item["version"]["N"]),
        enabled=bool(item["enabled"]["BOOL"]),
        body=json.loads(item["body"]["S"]),
        updated_at=item["updated_at"]["S"],
        updated_by=item["updated_by"]["S"],
        changes=int(item["changes"]["N"]),
    )


class DynamoDefinitionStore:
    """Satisfies `definitions.ports.DefinitionStore` (contract: tests/contract/test_definition_store.py)."""

    def __init__(self, state_table: str) -> None:
        self.table = state_table

    # -- writes ----------------------------------------------------------------------------------------------------
    def save(
        self,
        kind: str,
        definition_id: str,
        body: dict[str, Any],
        *,
        by: str,
        now: datetime,
        expected_version: int | None = None,
        enabled: bool | None = None,
    ) -> Definition:
        check_key(kind, definition_id)
        for _ in range(MAX_ATTEMPTS):
            head = self.head(kind, definition_id)
            current = head.version if head else 0
            if expected_version is not None and expected_version != current:
                raise DefinitionConflict(kind, definition_id, expected_version, current if head else None)
            keep = head.enabled if head else True
            new_enabled = keep if enabled is None else enabled
            if head is not None and head.body == body and head.enabled == new_enabled:
                return head
            version = current + 1
            changes = (head.changes if head else 0) + 1
            action = "create" if head is None else "update"
            changed = changed_paths(head.body, body) if head else []
            if head is not None and head.enabled != new_enabled:
                changed.append("enabled")
            saved = Definition(kind, definition_id, version, new_enabled, body, iso(now), by, changes)
            entry = AuditEntry(kind, definition_id, changes, action, version, by, iso(now), tuple(changed))
            if self._write(saved, head, entry, with_version=True):
                return saved
            if expected_version is not None:
                latest = self.head(kind, definition_id)
                raise DefinitionConflict(kind, definition_id, expected_version, latest.version if latest else None)
        raise DefinitionConflict(kind, definition_id, None, None)

    def set_enabled(
        self,
        kind: str,
        definition_id: str,
        enabled: bool,
        *,
        by: str,
        now: datetime,
        expected_version: int | None = None,
    ) -> Definition:
        check_key(kind, definition_id)
        for _ in range(MAX_ATTEMPTS):
            head = self.head(kind, definition_id)
            if head is None:
                raise DefinitionNotFound(kind, definition_id)
            if expected_version is not None and expected_version != head.version:
                raise DefinitionConflict(kind, definition_id, expected_version, head.version)
            if head.enabled == enabled:
                return head
            changes = head.changes + 1
            saved = Definition(kind, definition_id, head.version, enabled, head.body, iso(now), by, changes)
            action = "enable" if enabled else "disable"
            entry = AuditEntry(kind, definition_id, changes, action, head.version, by, iso(now), ("enabled",))
            if self._write(saved, head, entry, with_version=False):
                return saved
        raise DefinitionConflict(kind, definition_id, expected_version, None)

    def _write(self, saved: Definition, previous: Definition | None, entry: AuditEntry, *, with_version: bool) -> bool:
        """One transaction: head (conditional on the head we read), version, audit entry, revision bump.
        False when another change moved the head first."""
        ddb = client("dynamodb")
        kind, definition_id = saved.kind, saved.id
        body = _dump(saved.body)
        head_item = {
            "pk": {"S": f"def#{kind}"},
            "sk": {"S": definition_id},
            "version": {"N": str(saved.version)},
            "enabled": {"BOOL": saved.enabled},
            "body": {"S": body},
            "updated_at": {"S": saved.updated_at},
            "updated_by": {"S": saved.updated_by},
            "changes": {"N": str(saved.changes)},
        }
        head_put: dict[str, Any] = {"TableName": self.table, "Item": head_item}
        if previous is None:
            head_put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            head_put["ConditionExpression"] = "changes = :c"
            head_put["ExpressionAttributeValues"] = {":c": {"N": str(previous.changes)}}
        items: list[dict[str, Any]] = [{"Put": head_put}]
        own = {"S": f"def#{kind}#{definition_id}"}
        if with_version:
            version_item = {
                "pk": own,
                "sk": {"S": f"v#{saved.version:08d}"},
                "version": {"N": str(saved.version)},
                "body": {"S": body},
                "created_at": {"S": saved.updated_at},
                "created_by": {"S": saved.updated_by},
            }
            new_only = "attribute_not_exists(pk)"
            items.append({"Put": {"TableName": self.table, "Item": version_item, "ConditionExpression": new_only}})
        audit_item = {
            "pk": own,
            "sk": {"S": f"a#{entry.seq:08d}"},
            "action": {"S": entry.action},
            "version": {"N": str(entry.version)},
            "by": {"S": entry.by},
            "at": {"S": entry.at},
            "changed": {"S": json.dumps(list(entry.changed))},
        }
        items.append({"Put": {"TableName": self.table, "Item": audit_item}})
        items.append(
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": {"S": REVISION_PK}, "sk": {"S": kind}},
                    "UpdateExpression": "ADD rev :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            }
        )
        try:
            ddb.transact_write_items(TransactItems=items)
        except ddb.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                return False
            raise
        return True

    # -- reads -----------------------------------------------------------------------------------------------------
    def head(self, kind: str, definition_id: str) -> Definition | None:
        check_key(kind, definition_id)
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table,
                Key={"pk": {"S": f"def#{kind}"}, "sk": {"S": definition_id}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        return _head_from(kind, item) if item else None

    def heads(self, kind: str) -> list[Definition]:
        check_key(kind, "x")
        # Consistent: a cache that saw the revision move must not then read the heads from before the change.
        items = query_all(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"def#{kind}"}},
            ConsistentRead=True,
        )
        return [_head_from(kind, item) for item in items]

    def version(self, kind: str, definition_id: str, version: int) -> DefinitionVersion | None:
        check_key(kind, definition_id)
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table,
                Key={"pk": {"S": f"def#{kind}#{definition_id}"}, "sk": {"S": f"v#{version:08d}"}},
            )
            .get("Item")
        )
        return self._version_from(kind, definition_id, item) if item else None

    @staticmethod
    def _version_from(kind: str, definition_id: str, item: dict[str, Any]) -> DefinitionVersion:
        return DefinitionVersion(
            kind=kind,
            id=definition_id,
            version=int(item["version"]["N"]),
            body=json.loads(item["body"]["S"]),
            created_at=item["created_at"]["S"],
            created_by=item["created_by"]["S"],
        )

    def _own(self, kind: str, definition_id: str, prefix: str) -> list[dict[str, Any]]:
        check_key(kind, definition_id)
        return query_all(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": {"S": f"def#{kind}#{definition_id}"}, ":p": {"S": prefix}},
            ConsistentRead=True,
        )

    def versions(self, kind: str, definition_id: str) -> list[DefinitionVersion]:
        return [self._version_from(kind, definition_id, item) for item in self._own(kind, definition_id, "v#")]

    def audit(self, kind: str, definition_id: str) -> list[AuditEntry]:
        return [
            AuditEntry(
                kind=kind,
                id=definition_id,
                seq=int(item["sk"]["S"][2:]),
                action=item["action"]["S"],
                version=int(item["version"]["N"]),
                by=item["by"]["S"],
                at=item["at"]["S"],
                changed=tuple(json.loads(item["changed"]["S"])),
            )
            for item in self._own(kind, definition_id, "a#")
        ]

    def revision(self, kind: str) -> int:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key={"pk": {"S": REVISION_PK}, "sk": {"S": kind}})
            .get("Item")
        )
        return int(item["rev"]["N"]) if item else 0
