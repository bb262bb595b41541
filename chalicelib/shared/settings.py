"""Runtime settings read from the environment once (stage variables in AWS, the local stack or tests locally)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

# Logical id in infra/resources.json -> (environment variable, default physical name for local and tests)
TABLES: dict[str, tuple[str, str]] = {
    # Keyed by profile since cost issue 19 (no `by_profile` index): a new name, so no stack keeps the old schema's.
    "EventsTable": ("EVENTS_TABLE", "one2one-event-log"),
    "IdentitiesTable": ("IDENTITIES_TABLE", "one2one-identities"),
    "ProfilesTable": ("PROFILES_TABLE", "one2one-profiles"),
    "SegmentMembersTable": ("SEGMENT_MEMBERS_TABLE", "one2one-segment-members"),
    "FailedEventsTable": ("FAILED_EVENTS_TABLE", "one2one-failed-events"),
    "StateTable": ("STATE_TABLE", "one2one-state"),
    "MessagesTable": ("MESSAGES_TABLE", "one2one-messages"),
    "DueTable": ("DUE_TABLE", "one2one-due"),
    "CatalogTable": ("CATALOG_TABLE", "one2one-catalog"),
}
# Queues, topics and SES configuration sets, same shape (read by local/provision.py too).
QUEUES: dict[str, tuple[str, str]] = {
    "DeliveryQueue": ("DELIVERY_QUEUE", "one2one-delivery"),
    "DeliveryDeadLetterQueue": ("DELIVERY_DLQ", "one2one-delivery-dlq"),
    "BackfillQueue": ("BACKFILL_QUEUE", "one2one-backfill"),
    "BackfillDeadLetterQueue": ("BACKFILL_DLQ", "one2one-backfill-dlq"),
    "CatalogFanoutQueue": ("CATALOG_FANOUT_QUEUE", "one2one-catalog-fanout"),
    "CatalogFanoutDeadLetterQueue": ("CATALOG_FANOUT_DLQ", "one2one-catalog-fanout-dlq"),
    "AudienceQueue": ("AUDIENCE_QUEUE", "one2one-audience"),
    "AudienceDeadLetterQueue": ("AUDIENCE_DLQ", "one2one-audience-dlq"),
    "ImportQueue": ("IMPORT_QUEUE", "one2one-import"),
    "ImportDeadLetterQueue": ("IMPORT_DLQ", "one2one-import-dlq"),
    "ExportQueue": ("EXPORT_QUEUE", "one2one-export"),
    "ExportDeadLetterQueue": ("EXPORT_DLQ", "one2one-export-dlq"),
}
BUCKETS: dict[str, tuple[str, str]] = {
    "ImportBucket": ("IMPORT_BUCKET", "one2one-imports"),
    "ArchiveBucket": ("ARCHIVE_BUCKET", "one2one-archive"),
    "ExportBucket": ("EXPORT_BUCKET", "one2one-exports"),
    "ConsoleAssetsBucket": ("CONSOLE_ASSETS_BUCKET", "one2one-console-assets"),  # deployed: CloudFront's S3 origin
}
# The archive's Athena workgroup and Glue database (AWS only: the local stack reads the archive's objects instead).
ANALYTICS: dict[str, tuple[str, str]] = {
    "ArchiveWorkGroup": ("ARCHIVE_WORKGROUP", "one2one-archive"),
    "ArchiveDatabase": ("ARCHIVE_DATABASE", "one2one_archive"),
}
# Where the CLV fitting job reads customer history (ONE2ONE_CUSTOMER_HISTORY): the archive's objects read directly
# (`archive`, the default: local stack, small installs), Athena over the archive (`athena`: set for the deployed
# fitting function in .chalice/config.json), or the fold's population rows (`population`).
CUSTOMER_HISTORY_SOURCES = ("archive", "athena", "population")
TOPICS: dict[str, tuple[str, str]] = {
    "SalesAlertsTopic": ("SALES_ALERTS_TOPIC", "one2one-sales-alerts"),
    "SesFeedbackTopic": ("SES_FEEDBACK_TOPIC", "one2one-ses-feedback"),
}
CONFIGURATION_SETS: dict[str, tuple[str, str]] = {
    "EmailConfigurationSet": ("SES_CONFIGURATION_SET", "one2one-email"),
}


def _positive_int(raw: str | None, default: int) -> int:
    """An environment value that must be a whole number above zero; anything else falls back to `default`."""
    try:
        value = int(raw) if raw not in (None, "") else default
    except ValueError:
        return default
    return value if value > 0 else default


def table_name(logical_id: str) -> str:
    env, default = TABLES[logical_id]
    return os.environ.get(env, default)


def resource_name(logical_id: str) -> str:
    """Physical name of a queue, topic, bucket or configuration set (env var, else the local default)."""
    env, default = (QUEUES | TOPICS | CONFIGURATION_SETS | BUCKETS)[logical_id]
    return os.environ.get(env, default)


DEFAULT_EVENT_TTL_DAYS = 35


@dataclass(frozen=True)
class Settings:
    events_table: str
    identities_table: str
    profiles_table: str
    segment_members_table: str
    failed_events_table: str
    state_table: str
    # EVENT_TTL_DAYS: how long the events table keeps an event (default 35). The S3 archive keeps every event for
    # good (Athena/DuckDB, and the person's access export reads it), so the table only needs what is read by key or
    # by profile: the console timeline, merge re-pointing, the scenario exit check at send time (runs are exited by
    # the event itself when it arrives) and the archive's refill from a point-in-time export, whose window is 35
    # days anyway. Storage and PITR are billed per GB-month: 395 days of ~3 KB (item + index copy) cost $13.57 per
    # million events over their life; 35 days of ~1.2 KB (deflated bodies) $0.48 (`python -m bench.levers`).
    event_ttl_days: int
    failed_event_ttl_days: int
    max_anonymous_ids_per_profile: int
    local_admin_token: str | None
    stage: str
    messages_table: str = "one2one-messages"
    due_table: str = "one2one-due"
    delivery_queue: str = "one2one-delivery"
    audience_queue: str = "one2one-audience"
    sales_alerts_topic: str = "one2one-sales-alerts"
    sales_alerts_topic_arn: str | None = None
    ses_configuration_set: str = "one2one-email"
    email_from: str = "shop@example.com"
    unsubscribe_mailto: str = "unsubscribe@example.com"
    public_base_url: str = "http://localhost:8000"
    signing_key: str = ""
    signing_key_id: str = "k1"
    local_tools: bool = False
    # Open/click/confirm link keys, "kid:base64,kid:base64" (first signs). Empty: derived from the signing key.
    link_keys: str = ""
    tracked_link_ttl_days: int = 90  # ONE2ONE_TRACKED_LINK_TTL_DAYS: how long click and open links work
    ses_feedback_topic: str = "one2one-ses-feedback"
    ses_feedback_topic_arn: str | None = None
    backfill_queue: str = "one2one-backfill"
    backfill_parallelism: int = 16  # ONE2ONE_BACKFILL_PARALLELISM: scan segments (concurrent workers) per backfill
    import_queue: str = "one2one-import"
    import_bucket: str = "one2one-imports"
    archive_bucket: str = "one2one-archive"
    # How often a warm container asks whether stored definitions changed (one GetItem per kind), in seconds.
    definitions_check_seconds: float = 30.0
    # ONE2ONE_SEND_RATE_LIMIT=off: no shared sending rate (tests whose fake clock stands still; never in AWS).
    send_rate_limit: bool = True
    catalog_table: str = "one2one-catalog"
    catalog_fanout_queue: str = "one2one-catalog-fanout"
    # ONE2ONE_CATALOG_HOSTS: the shop's sites ("https://shop.example,https://img.shop.example") product and image URLs
    # may point at; a server source's own allowed origins are added for what it writes.
    catalog_hosts: tuple[str, ...] = ()
    # ONE2ONE_CATALOG_FANOUT_PER_MINUTE: first steps one catalog change may release per minute (runs beyond wait).
    catalog_fanout_per_minute: int = 600
    export_queue: str = "one2one-export"
    export_bucket: str = "one2one-exports"
    customer_history: str = "archive"
    archive_workgroup: str = "one2one-archive"
    archive_database: str = "one2one_archive"
    # The SNS platform applications of mobile push (ARNs, not credentials: those stay in SNS and Secrets Manager).
    push_apns_application_arn: str | None = None
    push_fcm_application_arn: str | None = None
    push_application_name: str = "one2one-push"  # found by name where no ARN is set (the local stack)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        events_table=table_name("EventsTable"),
        identities_table=table_name("IdentitiesTable"),
        profiles_table=table_name("ProfilesTable"),
        segment_members_table=table_name("SegmentMembersTable"),
        failed_events_table=table_name("FailedEventsTable"),
        state_table=table_name("StateTable"),
        event_ttl_days=_positive_int(os.environ.get("EVENT_TTL_DAYS"), DEFAULT_EVENT_TTL_DAYS),
        failed_event_ttl_days=int(os.environ.get("FAILED_EVENT_TTL_DAYS", "30")),
        max_anonymous_ids_per_profile=int(os.environ.get("MAX_ANONYMOUS_IDS_PER_PROFILE", "25")),
        local_admin_token=os.environ.get("ONE2ONE_LOCAL_ADMIN_TOKEN") or None,
        stage=os.environ.get("ONE2ONE_STAGE", "dev"),
        messages_table=table_name("MessagesTable"),
        due_table=table_name("DueTable"),
        delivery_queue=resource_name("DeliveryQueue"),
        audience_queue=resource_name("AudienceQueue"),
        sales_alerts_topic=resource_name("SalesAlertsTopic"),
        sales_alerts_topic_arn=os.environ.get("SALES_ALERTS_TOPIC_ARN") or None,
        ses_configuration_set=resource_name("EmailConfigurationSet"),
        email_from=os.environ.get("ONE2ONE_EMAIL_FROM", "shop@example.com"),
        unsubscribe_mailto=os.environ.get("ONE2ONE_UNSUBSCRIBE_MAILTO", "unsubscribe@example.com"),
        public_base_url=os.environ.get("PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/"),
        signing_key=os.environ.get("ONE2ONE_SIGNING_KEY", ""),
        signing_key_id=os.environ.get("ONE2ONE_SIGNING_KEY_ID", "k1"),
        local_tools=os.environ.get("ONE2ONE_LOCAL_TOOLS") == "1",
        link_keys=os.environ.get("ONE2ONE_LINK_KEYS", ""),
        tracked_link_ttl_days=_positive_int(os.environ.get("ONE2ONE_TRACKED_LINK_TTL_DAYS"), 90),
        ses_feedback_topic=resource_name("SesFeedbackTopic"),
        ses_feedback_topic_arn=os.environ.get("SES_FEEDBACK_TOPIC_ARN") or None,
        backfill_queue=resource_name("BackfillQueue"),
        backfill_parallelism=min(_positive_int(os.environ.get("ONE2ONE_BACKFILL_PARALLELISM"), 16), 1000),
        import_queue=resource_name("ImportQueue"),
        import_bucket=resource_name("ImportBucket"),
        archive_bucket=resource_name("ArchiveBucket"),
        definitions_check_seconds=float(_positive_int(os.environ.get("ONE2ONE_DEFINITIONS_CHECK_SECONDS"), 30)),
        send_rate_limit=os.environ.get("ONE2ONE_SEND_RATE_LIMIT", "on").strip().lower() != "off",
        catalog_table=table_name("CatalogTable"),
        catalog_fanout_queue=resource_name("CatalogFanoutQueue"),
        catalog_hosts=tuple(h.strip() for h in os.environ.get("ONE2ONE_CATALOG_HOSTS", "").split(",") if h.strip()),
        catalog_fanout_per_minute=_positive_int(os.environ.get("ONE2ONE_CATALOG_FANOUT_PER_MINUTE"), 600),
        export_queue=resource_name("ExportQueue"),
        export_bucket=resource_name("ExportBucket"),
        customer_history=_customer_history(os.environ.get("ONE2ONE_CUSTOMER_HISTORY")),
        archive_workgroup=os.environ.get(*ANALYTICS["ArchiveWorkGroup"]),
        archive_database=os.environ.get(*ANALYTICS["ArchiveDatabase"]),
        push_apns_application_arn=os.environ.get("ONE2ONE_PUSH_APNS_APPLICATION_ARN") or None,
        push_fcm_application_arn=os.environ.get("ONE2ONE_PUSH_FCM_APPLICATION_ARN") or None,
        push_application_name=os.environ.get("ONE2ONE_PUSH_APPLICATION_NAME") or "one2one-push",
    )


def _customer_history(raw: str | None) -> str:
    value = (raw or "archive").strip().lower()
    if value not in CUSTOMER_HISTORY_SOURCES:
        raise ValueError(f"ONE2ONE_CUSTOMER_HISTORY must be one of {', '.join(CUSTOMER_HISTORY_SOURCES)}, not {raw!r}")
    return value
