"""The local stack's data across restarts: every DynamoDB table of infra/ saved to `.local-state/` and loaded back.

moto keeps everything in memory, so `make run` used to start empty every time. The stack saves a snapshot of every
table (and the local clock's lead over real time) every `SNAPSHOT_SECONDS` and when it stops; the next start loads it
into the freshly provisioned tables and the pump starts the streams after the restored records, so nothing restored
is folded, counted or sent again. Not kept: the SES/SNS outbox of the embedded moto (a record of what was sent, not
state the product reads) and messages sitting in the delivery queue at the moment of a hard kill (waiting steps live
in the due table and are kept).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SNAPSHOT_SECONDS = 30
FORMAT_VERSION = 1


def _encode(value: Any) -> Any:
    """A DynamoDB attribute value as JSON (binary as base64, recursively through maps, lists and sets)."""
    if isinstance(value, dict):
        return {key: _encode(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_encode(inner) for inner in value]
    if isinstance(value, bytes | bytearray):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$b64"}:
            return base64.b64decode(value["$b64"])
        return {key: _decode(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_decode(inner) for inner in value]
    return value


def save(ddb: Any, tables: list[str], path: Path, clock_lead: timedelta) -> int:
    """Write every item of `tables` to `path` (atomically: a crash mid-write leaves the previous snapshot).

    Returns the number of items saved.
    """
    snapshot: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "saved_at": datetime.now(UTC).isoformat(),
        "clock_lead_seconds": clock_lead.total_seconds(),
        "tables": {},
    }
    count = 0
    for table in tables:
        items: list[Any] = []
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            items.extend(_encode(item) for item in page["Items"])
        snapshot["tables"][table] = items
        count += len(items)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(snapshot, separators=(",", ":")))
    os.replace(partial, path)
    return count


def load(ddb: Any, tables: list[str], path: Path) -> tuple[int, timedelta]:
    """Put the saved items back into `tables` (those of the snapshot that still exist).

    Returns (items restored, the clock's lead over real time when the snapshot was taken).
    """
    if not path.is_file():
        return 0, timedelta(0)
    try:
        snapshot = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("local state: %s is not readable (%s); starting empty", path, exc)
        return 0, timedelta(0)
    if snapshot.get("version") != FORMAT_VERSION:
        log.warning("local state: %s has format %s, expected %s; starting empty", path, snapshot.get("version"), 1)
        return 0, timedelta(0)
    restored = 0
    for table, items in snapshot["tables"].items():
        if table not in tables:
            continue
        for start in range(0, len(items), 25):
            requests = [{"PutRequest": {"Item": _decode(item)}} for item in items[start : start + 25]]
            while requests:
                unprocessed = ddb.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {})
                requests = unprocessed.get(table, [])
        restored += len(items)
    return restored, timedelta(seconds=float(snapshot.get("clock_lead_seconds") or 0))
