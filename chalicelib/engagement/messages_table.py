"""MessagesTable and DueTable key layout, and their low-level item decoding, for every adapter that reads them.

Delivery's adapter (runs, message records, send log, suppression, due steps) and engagement's (preferences, touches,
pending opt-ins, export and erasure of a person's partition) share one partition per person. Engagement is the lower
wing, so the layout lives here and delivery's adapter imports it; see each adapter's docstring for its own items.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.shared.secrets import keyed_digest
from chalicelib.tracking.events import iso


def person_pk(profile_id: str) -> str:
    """The partition of everything MessagesTable holds about one person."""
    return f"p#{profile_id}"


def message_sk(trigger_id: str, step_index: int) -> str:
    return f"msg#{trigger_id}#{step_index}"


def suppression_pk(channel: str, address: str) -> str:
    return f"s#{channel}:{address.lower()}"


def erased_suppression_pk(channel: str, address: str, key: str) -> str:
    """The suppression of an erased person's address: a keyed hash (HMAC-SHA256 with the signing key), so the address
    is still never mailed again but cannot be read back, nor found by hashing a guess without the key."""
    digest = keyed_digest(key, "suppression", f"{channel}:{address.lower()}")
    return f"s#{channel}#h:{digest[:40]}"


def due_bucket(when: datetime) -> str:
    """DueTable partition of one UTC hour."""
    return "due#" + iso(when)[:13]  # YYYY-MM-DDTHH


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """Low-level attribute values -> plain Python (only the types these tables use)."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        ((kind, raw),) = value.items()
        if kind == "N":
            out[key] = float(raw) if "." in raw else int(raw)
        elif kind == "BOOL":
            out[key] = raw
        elif kind == "NULL":
            out[key] = None
        else:
            out[key] = raw
    return out


# The uplift report's assignments: every run record carries `assigned` (`{scenario}#{arm}#{shard}`) and `assigned_at`
# (its entry time), which the sparse KEYS_ONLY GSI `by_assignment` indexes; the report counts them with Select=COUNT.
# The run is written once per (person, trigger instance), so a replay assigns nobody twice, and erasing the person
# deletes their runs, hence their assignments. The shard (a stable hash of the run's key) spreads one busy scenario
# over 16 index partitions: a broadcast fan-out writes far more than the ~1,000 writes/s one partition key takes.
# A run expired by its TTL (400 days after its last change) leaves the count; its run conversions (counters) do not.
ASSIGNMENT_INDEX = "by_assignment"
ASSIGNMENT_SHARDS = 16
ARMS = ("treated", "holdout")


def assignment_key(scenario_id: str, arm: str, shard: int) -> str:
    """The `by_assignment` partition of one scenario's arm and shard."""
    return f"{scenario_id}#{arm}#{shard}"


def run_assignment(scenario_id: str, holdout: bool, profile_id: str, trigger_id: str) -> str:
    """The `assigned` value of one run: its arm, and a shard that depends only on the run's key (never on time or
    process), so every write of the run names the same index entry."""
    import zlib

    shard = zlib.crc32(f"{profile_id}#{trigger_id}".encode()) % ASSIGNMENT_SHARDS
    return assignment_key(scenario_id, ARMS[1] if holdout else ARMS[0], shard)


# The uplift report's run conversions: the first order counted for a run sets `converted` (the run's `run_assignment`
# shard key, whatever the run's age: runs started before `assigned` existed convert too), which the sparse GSI
# `by_conversion` indexes with the run's `run_conversions` and `run_revenue` projected (INCLUDE). The order keys it
# counted (`conv_orders`, a string set) make a replayed order a failed condition. A run's window (7 days) sees few
# orders; past MAX_RUN_ORDERS the recorder counts them on the report row's legacy counter instead (fact marker + ADD),
# so the run record, read and rewritten by every step, stays small.
CONVERSION_INDEX = "by_conversion"
MAX_RUN_ORDERS = 10


def run_sk(trigger_id: str) -> str:
    """The sort key of a run record in its person's partition."""
    return f"run#{trigger_id}"
