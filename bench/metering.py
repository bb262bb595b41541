"""What AWS bills for one call, from the call itself: DynamoDB item sizes, read/write units with every index's projected
copy, transactions and consistent reads; SQS/SNS 64 KB chunks. Pure arithmetic, checked by hand against the AWS docs.

DynamoDB rules (Developer Guide, "Item sizes and formats" and "Read/write capacity mode"):
- item size = sum over attributes of UTF-8 name bytes + value size; String: UTF-8 bytes; Binary: bytes; Number: about
  1 byte per 2 significant digits + 1; Boolean / Null: 1; List / Map: 3 bytes + 1 byte per element + the elements (map
  keys count as names); sets: the sum of their elements.
- one write unit per 1 KB (rounded up) of the larger of the old and the new item; a delete: the old item's size; a
  transaction doubles every item's units. One read unit per 4 KB (rounded up, per item for GetItem, per response for
  Query/Scan); eventually consistent reads cost half; transactional reads double. Index maintenance of a
  transaction's items is counted as ordinary writes (the doubling applies to the table item).
- every global (or local) secondary index is written too: a new entry = 1 write of the projected size, a removed entry
  = 1 write, an entry whose index key changed = 2 writes (delete + put), an entry whose projected attributes changed = 1
  write; an entry holds the table's and the index's keys plus the projected attributes (ALL: every attribute).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

KB = 1024
WRITE_UNIT_BYTES = 1 * KB
READ_UNIT_BYTES = 4 * KB
MESSAGE_CHUNK_BYTES = 64 * KB  # SQS and SNS bill each 64 KB chunk of a payload as one request


def number_size(raw: str) -> int:
    """Bytes DynamoDB stores for a Number: 1 byte per two significant digits (leading/trailing zeros trimmed) + 1."""
    digits = str(Decimal(raw).normalize()).lstrip("-").replace(".", "")
    if "E" in digits:  # 1E+3 after normalize: one significant digit
        digits = digits.split("E", 1)[0]
    digits = digits.strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's JSON form ({"S": ...}, {"M": {...}}, ...)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return number_size(raw)
    if kind == "B":
        return len(raw) if isinstance(raw, bytes | bytearray) else len(str(raw).encode())
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in raw)
    if kind == "NS":
        return sum(number_size(n) for n in raw)
    if kind == "BS":
        return sum(len(b) for b in raw)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in raw.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    """Bytes of a whole item: attribute names + values."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    """Write units of one item write (at least 1, also for a conditional write that failed)."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """Read units of reading `size` bytes (one item, or one Query/Scan response)."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return 2.0 * units
    return float(units) if consistent else units / 2


@dataclass(frozen=True)
class Index:
    """One secondary index as `describe_table` reports it."""

    name: str
    keys: tuple[str, ...]
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableShape:
    """A table's key attributes and indexes, read at run time (so a dropped or keys-only index shows up in the bill)."""

    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    @classmethod
    def from_description(cls, table: dict[str, Any]) -> TableShape:
        def keys(schema: list[dict[str, str]]) -> tuple[str, ...]:
            return tuple(k["AttributeName"] for k in schema)

        indexes = []
        for index in [*table.get("GlobalSecondaryIndexes", []), *table.get("LocalSecondaryIndexes", [])]:
            projection = index.get("Projection", {})
            indexes.append(
                Index(
                    name=index["IndexName"],
                    keys=keys(index["KeySchema"]),
                    projection=projection.get("ProjectionType", "ALL"),
                    non_key_attributes=tuple(projection.get("NonKeyAttributes", [])),
                )
            )
        return cls(name=table["TableName"], keys=keys(table["KeySchema"]), indexes=tuple(indexes))

    def index(self, name: str) -> Index:
        return next(i for i in self.indexes if i.name == name)

    def index_entry(self, index: Index, item: dict[str, Any] | None) -> dict[str, Any] | None:
        """The item's copy in `index` (None when the item lacks an index key: sparse indexes hold no entry)."""
        if not item or any(key not in item for key in index.keys):
            return None
        if index.projection == "ALL":
            return dict(item)
        kept = set(self.keys) | set(index.keys)
        if index.projection == "INCLUDE":
            kept |= set(index.non_key_attributes)
        return {name: value for name, value in item.items() if name in kept}


@dataclass
class WriteCost:
    table_units: int = 0
    index_units: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.table_units + sum(self.index_units.values())


def item_write_cost(
    shape: TableShape, old: dict[str, Any] | None, new: dict[str, Any] | None, *, transactional: bool = False
) -> WriteCost:
    """Units of one item write (put/update: `new` set; delete: `new` None) in the table and each of its indexes."""
    factor = 2 if transactional else 1
    cost = WriteCost(table_units=factor * write_units(max(item_size(old), item_size(new))))
    for index in shape.indexes:
        before, after = shape.index_entry(index, old), shape.index_entry(index, new)
        units = 0
        if before is None and after is not None:
            units = write_units(item_size(after))
        elif before is not None and after is None:
            units = write_units(item_size(before))
        elif before is not None and after is not None:
            if any(before.get(k) != after.get(k) for k in index.keys):
                units = write_units(item_size(before)) + write_units(item_size(after))
            elif before != after:
                units = write_units(item_size(after))
        if units:  # an index is maintained by ordinary (not transactional) writes, also for a transaction's items
            cost.index_units[index.name] = units
    return cost


def message_requests(payload_bytes: int) -> int:
    """SQS / SNS requests a payload is billed as: one per started 64 KB chunk."""
    return max(1, math.ceil(payload_bytes / MESSAGE_CHUNK_BYTES))
