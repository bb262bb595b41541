"""Composition root: the real adapters and services, built lazily from settings and cached for the warm Lambda."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from chalicelib.clock import get_clock
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.adapters.dynamodb_events import DynamoEventStore, DynamoFailedEventStore
    from chalicelib.adapters.dynamodb_identity import DynamoIdentityStore, DynamoProfileStore
    from chalicelib.adapters.dynamodb_sources import DynamoSourceRegistry
    from chalicelib.services.fold import FoldService
    from chalicelib.services.ingest import IngestService
    from chalicelib.services.privacy import PrivacyService


@cache
def get_event_store() -> DynamoEventStore:
    from chalicelib.adapters.dynamodb_events import DynamoEventStore

    s = get_settings()
    return DynamoEventStore(s.events_table, s.event_ttl_days)


@cache
def get_failed_event_store() -> DynamoFailedEventStore:
    from chalicelib.adapters.dynamodb_events import DynamoFailedEventStore

    s = get_settings()
    return DynamoFailedEventStore(s.failed_events_table, s.failed_event_ttl_days)


@cache
def get_identity_store() -> DynamoIdentityStore:
    from chalicelib.adapters.dynamodb_identity import DynamoIdentityStore

    return DynamoIdentityStore(get_settings().identities_table)


@cache
def get_profile_store() -> DynamoProfileStore:
    from chalicelib.adapters.dynamodb_identity import DynamoProfileStore

    return DynamoProfileStore(get_settings().profiles_table)


@cache
def get_source_registry() -> DynamoSourceRegistry:
    from chalicelib.adapters.dynamodb_sources import DynamoSourceRegistry

    return DynamoSourceRegistry(get_settings().state_table)


@cache
def get_ingest_service() -> IngestService:
    from chalicelib.services.ingest import IngestService

    return IngestService(
        sources=get_source_registry(),
        events=get_event_store(),
        identities=get_identity_store(),
        failed=get_failed_event_store(),
        clock=get_clock(),
    )


@cache
def get_fold_service() -> FoldService:
    from chalicelib.services.fold import FoldService

    return FoldService(
        events=get_event_store(),
        identities=get_identity_store(),
        profiles=get_profile_store(),
        failed=get_failed_event_store(),
        clock=get_clock(),
        max_anonymous_ids=get_settings().max_anonymous_ids_per_profile,
    )


@cache
def get_privacy_service() -> PrivacyService:
    from chalicelib.services.privacy import PrivacyService, PrivacyTables

    s = get_settings()
    tables = PrivacyTables(s.events_table, s.identities_table, s.profiles_table, s.segment_members_table)
    return PrivacyService(tables, get_clock())


def reset() -> None:
    """Drop every cached adapter and service (tests change environment between cases)."""
    for factory in (
        get_event_store,
        get_failed_event_store,
        get_identity_store,
        get_profile_store,
        get_source_registry,
        get_ingest_service,
        get_fold_service,
        get_privacy_service,
    ):
        factory.cache_clear()
    get_settings.cache_clear()
