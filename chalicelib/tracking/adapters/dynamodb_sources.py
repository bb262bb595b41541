"""Sources (write keys, stored hashed, and origin allow-lists) in the state table, cached briefly in memory."""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import UTC, datetime

from chalicelib.shared.aws import client
from chalicelib.shared.dynamodb import query_all
from chalicelib.tracking.sources import Source, SourceKind, hash_write_key

SOURCE_PK = "source"
CACHE_SECONDS = 60.0
MAX_CACHED_KEYS = 1024  # unknown keys are cached too (a miss is not looked up again), so the cache is bounded


class DynamoSourceRegistry:
    """Every tracking request needs its source; a warm Lambda answers from memory for a minute (a revoked key
    stops working within that minute)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._by_hash: OrderedDict[str, tuple[float, Source | None]] = OrderedDict()
        self._all: tuple[float, list[Source]] | None = None

    def by_write_key(self, write_key: str) -> Source | None:
        key_hash = hash_write_key(write_key)
        cached = self._by_hash.get(key_hash)
        now = time.monotonic()
        if cached and now - cached[0] < CACHE_SECONDS:
            source = cached[1]
        else:
            item = (
                client("dynamodb")
                .get_item(TableName=self.table, Key={"pk": {"S": SOURCE_PK}, "sk": {"S": f"key#{key_hash}"}})
                .get("Item")
            )
            source = Source.model_validate_json(item["body"]["S"]) if item else None
            self._by_hash[key_hash] = (now, source)
            self._by_hash.move_to_end(key_hash)
            while len(self._by_hash) > MAX_CACHED_KEYS:
                self._by_hash.popitem(last=False)
        if source is None or not source.key_matches(write_key):
            return None
        return source

    def all_sources(self) -> list[Source]:
        now = time.monotonic()
        if self._all and now - self._all[0] < CACHE_SECONDS:
            return self._all[1]
        items = query_all(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": SOURCE_PK}},
        )
        sources = [Source.model_validate_json(item["body"]["S"]) for item in items]
        self._all = (now, sources)
        return sources

    def any_allows_origin(self, origin: str) -> bool:
        return any(source.origin_allowed(origin) for source in self.all_sources())

    def upsert_source(
        self,
        source_id: str,
        write_key: str,
        allowed_origins: list[str],
        name: str = "",
        *,
        kind: SourceKind = "client",
        identity_secret: str | None = None,
    ) -> Source:
        key_hash = hash_write_key(write_key)
        source = Source(
            source_id=source_id,
            name=name or source_id,
            key_hash=key_hash,
            allowed_origins=allowed_origins,
            kind=kind,
            identity_secret=identity_secret,
            created_at=datetime.now(UTC).isoformat(),
        )
        self.save(source)
        return source

    def keys(self, source_id: str | None = None) -> list[Source]:
        self._all = None  # an operator's view: always fresh
        return [s for s in self.all_sources() if source_id is None or s.source_id == source_id]

    def save(self, source: Source) -> None:
        client("dynamodb").put_item(
            TableName=self.table,
            Item={
                "pk": {"S": SOURCE_PK},
                "sk": {"S": f"key#{source.key_hash}"},
                "source_id": {"S": source.source_id},
                "body": {"S": source.model_dump_json()},
            },
        )
        self._by_hash.clear()
        self._all = None
