"""SourceRegistry contract: a write key finds its source (only its hash is kept), and origins are allowed per source."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.tracking.ports import SourceRegistry
from tests.fakes.tracking import FakeSourceRegistry


class SourceRegistryContract:
    @pytest.fixture
    def registry(self) -> SourceRegistry:
        raise NotImplementedError

    def test_a_write_key_finds_its_source(self, registry: SourceRegistry) -> None:
        created = registry.upsert_source("web", "key-1", ["https://shop.example"], name="Web shop")
        found = registry.by_write_key("key-1")
        assert found == created
        assert found is not None and found.source_id == "web" and found.name == "Web shop"
        assert "key-1" not in found.model_dump_json()  # only the hash is stored

    def test_an_unknown_write_key_finds_nothing(self, registry: SourceRegistry) -> None:
        registry.upsert_source("web", "key-1", [])
        assert registry.by_write_key("key-2") is None

    def test_upserting_a_key_again_replaces_its_source(self, registry: SourceRegistry) -> None:
        registry.upsert_source("web", "key-1", ["https://old.example"])
        registry.upsert_source("web", "key-1", ["https://new.example"])
        found = registry.by_write_key("key-1")
        assert found is not None and found.allowed_origins == ["https://new.example"]
        assert not registry.any_allows_origin("https://old.example")

    def test_an_origin_is_allowed_when_some_source_allows_it(self, registry: SourceRegistry) -> None:
        registry.upsert_source("web", "key-1", ["https://shop.example"])
        registry.upsert_source("app", "key-2", ["https://app.example"])
        assert registry.any_allows_origin("https://app.example")
        assert not registry.any_allows_origin("https://evil.example")


class TestFakeSourceRegistry(SourceRegistryContract):
    @pytest.fixture
    def registry(self) -> SourceRegistry:
        return FakeSourceRegistry()


class TestDynamoSourceRegistry(SourceRegistryContract):
    @pytest.fixture
    def registry(self, dynamo: Any) -> SourceRegistry:
        from chalicelib.tracking.adapters.dynamodb_sources import DynamoSourceRegistry

        return DynamoSourceRegistry(dynamo.state_table)
