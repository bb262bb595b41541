"""Runtime settings read from the environment once (stage variables in AWS, the local stack or tests locally)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

# Logical id in infra/resources.json -> (environment variable, default physical name for local and tests)
TABLES: dict[str, tuple[str, str]] = {
    "EventsTable": ("EVENTS_TABLE", "one2one-events"),
    "IdentitiesTable": ("IDENTITIES_TABLE", "one2one-identities"),
    "ProfilesTable": ("PROFILES_TABLE", "one2one-profiles"),
    "SegmentMembersTable": ("SEGMENT_MEMBERS_TABLE", "one2one-segment-members"),
    "FailedEventsTable": ("FAILED_EVENTS_TABLE", "one2one-failed-events"),
    "StateTable": ("STATE_TABLE", "one2one-state"),
}


def table_name(logical_id: str) -> str:
    env, default = TABLES[logical_id]
    return os.environ.get(env, default)


@dataclass(frozen=True)
class Settings:
    events_table: str
    identities_table: str
    profiles_table: str
    segment_members_table: str
    failed_events_table: str
    state_table: str
    event_ttl_days: int
    failed_event_ttl_days: int
    max_anonymous_ids_per_profile: int
    local_admin_token: str | None
    stage: str


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        events_table=table_name("EventsTable"),
        identities_table=table_name("IdentitiesTable"),
        profiles_table=table_name("ProfilesTable"),
        segment_members_table=table_name("SegmentMembersTable"),
        failed_events_table=table_name("FailedEventsTable"),
        state_table=table_name("StateTable"),
        event_ttl_days=int(os.environ.get("EVENT_TTL_DAYS", "395")),
        failed_event_ttl_days=int(os.environ.get("FAILED_EVENT_TTL_DAYS", "30")),
        max_anonymous_ids_per_profile=int(os.environ.get("MAX_ANONYMOUS_IDS_PER_PROFILE", "25")),
        local_admin_token=os.environ.get("ONE2ONE_LOCAL_ADMIN_TOKEN") or None,
        stage=os.environ.get("ONE2ONE_STAGE", "dev"),
    )
