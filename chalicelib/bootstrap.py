"""Composition root: the real adapters and services, built lazily from settings and cached for the warm Lambda."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from chalicelib.shared.clock import get_clock
from chalicelib.shared.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.broadcasts.service import BroadcastService
    from chalicelib.catalog.adapters.dynamodb_catalog import DynamoCatalogStore, DynamoInterestIndex
    from chalicelib.catalog.service import CatalogService
    from chalicelib.definitions.adapters.dynamodb_definitions import DynamoDefinitionStore
    from chalicelib.definitions.effective import EffectiveCache
    from chalicelib.definitions.service import DefinitionsService
    from chalicelib.delivery.adapters.dynamodb_messages import DynamoMessageStore, DynamoRunStore
    from chalicelib.delivery.adapters.moto_outbox import MotoOutbox
    from chalicelib.delivery.adapters.sqs_queue import SqsDeliveryQueue
    from chalicelib.delivery.pacing import SendPacer
    from chalicelib.delivery.ports import PushSender, PushTokens
    from chalicelib.delivery.steps import DeliveryService
    from chalicelib.delivery.templating import TemplateSpec
    from chalicelib.engagement.adapters.dynamodb_engagement import DynamoDailyStore, DynamoEngagementStore
    from chalicelib.engagement.links import LinkSettings
    from chalicelib.engagement.recorder import EngagementService
    from chalicelib.engagement.sms_consent import SmsConsentService
    from chalicelib.engagement.tokens import Keyring
    from chalicelib.exports import ExportService
    from chalicelib.imports import ImportService
    from chalicelib.inapp import InAppMessage, InAppService
    from chalicelib.inapp.adapters.dynamodb_inapp import DynamoInAppStateStore
    from chalicelib.personalization import PersonalizationService
    from chalicelib.predictions.adapters.dynamodb_models import DynamoModelStore, DynamoPropensityStore
    from chalicelib.predictions.propensity_training import PropensityTrainingService
    from chalicelib.predictions.training import TrainingService
    from chalicelib.privacy.ports import PersonKeys
    from chalicelib.privacy.rights import PrivacyService
    from chalicelib.profiles.adapters.dynamodb_profiles import DynamoProfileStore
    from chalicelib.profiles.adapters.dynamodb_sweeps import DynamoCutPointStore
    from chalicelib.profiles.backfill import BackfillService
    from chalicelib.profiles.fold_batches import FoldService
    from chalicelib.profiles.model import Profile
    from chalicelib.profiles.segmentation import SegmentDef
    from chalicelib.profiles.sweeps import CutPointsService, LifecycleSweepService
    from chalicelib.recommendations import RecommendationService, SimilarItemsLearning
    from chalicelib.scenarios.catalog_triggers import CatalogTriggerService
    from chalicelib.scenarios.definitions import Scenario
    from chalicelib.scenarios.fanout import AudienceFanout
    from chalicelib.scenarios.triggers import ScenarioService
    from chalicelib.segments.adapters.dynamodb_segments import DynamoSegmentStore
    from chalicelib.segments.membership import SegmentMembershipService
    from chalicelib.segments.sizes import SegmentSizeService
    from chalicelib.tracking.adapters.dynamodb_events import DynamoEventStore, DynamoFailedEventStore
    from chalicelib.tracking.adapters.dynamodb_identities import DynamoIdentityStore
    from chalicelib.tracking.adapters.dynamodb_sources import DynamoSourceRegistry
    from chalicelib.tracking.archive import ArchiveService
    from chalicelib.tracking.archive_maintenance import ArchiveMaintenance
    from chalicelib.tracking.ingest import IngestService


@cache
def get_definition_store() -> DynamoDefinitionStore:
    """Segments, scenarios, templates and broadcasts saved at run time (versioned, audited; StateTable `def#...`)."""
    from chalicelib.definitions.adapters.dynamodb_definitions import DynamoDefinitionStore

    return DynamoDefinitionStore(get_settings().state_table)


def _check_every() -> timedelta:
    return timedelta(seconds=get_settings().definitions_check_seconds)


@cache
def get_segment_definitions() -> EffectiveCache[list[SegmentDef]]:
    """The fold's segments: `segments.json` overlaid by stored segment definitions, refreshed on their revision."""
    from chalicelib.definitions.effective import EffectiveCache
    from chalicelib.profiles.segment_definitions import build_segments, packaged_segment_bodies

    files = cache(packaged_segment_bodies)
    return EffectiveCache("segment", get_definition_store(), files, build_segments, get_clock(), _check_every())


@cache
def get_template_definitions() -> EffectiveCache[dict[str, TemplateSpec]]:
    """The template catalogue in force: `templates.json` + body files overlaid by stored templates."""
    from chalicelib.definitions.effective import EffectiveCache
    from chalicelib.delivery.templating import build_catalogue, packaged_template_bodies

    files = cache(packaged_template_bodies)
    return EffectiveCache("template", get_definition_store(), files, build_catalogue, get_clock(), _check_every())


@cache
def get_scenario_definitions() -> EffectiveCache[list[Scenario]]:
    """The scenarios in force: the packaged files overlaid by stored scenarios, each marked with its version."""
    from chalicelib.definitions.effective import EffectiveCache
    from chalicelib.scenarios.loader import build_scenarios, packaged_scenario_bodies

    files = cache(packaged_scenario_bodies)
    return EffectiveCache("scenario", get_definition_store(), files, build_scenarios, get_clock(), _check_every())


@cache
def get_scenario_at() -> Callable[[str, int], Scenario | None]:
    """A given version of a scenario (runs in flight finish on the version they started on); cached, immutable."""
    from chalicelib.definitions.effective import VersionCache
    from chalicelib.scenarios.loader import packaged_scenario_bodies, parse_scenario

    versions = VersionCache("scenario", get_definition_store(), cache(packaged_scenario_bodies), parse_scenario)

    def scenario_at(scenario_id: str, version: int) -> Scenario | None:
        found = versions.get(scenario_id, version)
        return found.at_version(version) if found is not None else None

    return scenario_at


def render_template(*args: Any, **kwargs: Any) -> Any:
    """`templating.render` over the effective catalogue (what delivery and the admin preview render)."""
    from chalicelib.delivery import templating

    return templating.render(*args, catalogue=get_template_definitions().get(), **kwargs)


def with_in_app(known: set[str], channels: Mapping[str, Any] | None, messages: Mapping[str, Any]) -> Any:
    """The template catalogue a scenario is checked against, plus the in-app messages as `in_app` templates (a step
    with channel `in_app` names its message in `template`)."""
    from chalicelib.scenarios.loader import TemplateCatalog

    merged = {k: set(v) for k, v in (channels or {}).items()}
    for message_id in messages:
        merged.setdefault(message_id, set()).add("in_app")
    return TemplateCatalog(known=known | set(messages), channels=merged if channels is not None else None)


@cache
def get_inapp_definitions() -> EffectiveCache[dict[str, InAppMessage]]:
    """The in-app messages in force: `config/in_app.json` overlaid by stored `in_app` definitions (enabled only)."""
    from chalicelib.definitions.effective import EffectiveCache
    from chalicelib.inapp import build_messages, packaged_message_bodies

    files = cache(packaged_message_bodies)
    return EffectiveCache("in_app", get_definition_store(), files, build_messages, get_clock(), _check_every())


@cache
def get_inapp_state_store() -> DynamoInAppStateStore:
    from chalicelib.inapp.adapters.dynamodb_inapp import DynamoInAppStateStore

    return DynamoInAppStateStore(get_settings().state_table)


@cache
def get_inapp_service() -> InAppService:
    """The in-app fetch, feedback fold and scenario delivery (the visitor lookup is the personalisation wing's)."""
    from chalicelib.inapp import InAppService

    return InAppService(
        visitor=lambda anonymous_id, user_id: get_personalization_service().visitor(anonymous_id, user_id).stored,
        store=get_inapp_state_store(),
        messages=get_inapp_definitions().get,
        clock=get_clock(),
        reports=get_engagement_store(),
    )


@cache
def get_definitions_service() -> DefinitionsService:
    """The admin use case over the store, with each kind's files, validator and backfill rule."""
    from chalicelib.definitions.service import DefinitionsService, KindSpec, scenario_backfill, segment_backfill
    from chalicelib.delivery import templating
    from chalicelib.inapp import packaged_message_bodies
    from chalicelib.profiles.segment_definitions import packaged_segment_bodies, validate_segment
    from chalicelib.scenarios.loader import packaged_scenario_bodies, validate_scenario_definition

    segments, scenarios, templates = get_segment_definitions(), get_scenario_definitions(), get_template_definitions()

    def validate_scenario(scenario_id: str, body: dict[str, Any]) -> None:
        catalogue = templates.get()
        known = with_in_app(set(catalogue), templating.catalogue_channels(catalogue), get_inapp_definitions().get())
        validate_scenario_definition(body, {s.name for s in segments.get()}, known)

    def validate_in_app(message_id: str, body: dict[str, Any]) -> None:
        from chalicelib.definitions import DefinitionInvalid
        from chalicelib.inapp import parse_message

        message = parse_message(body)
        if message.segment is not None and message.segment not in {s.name for s in segments.get()}:
            raise DefinitionInvalid("segment", f"unknown segment {message.segment!r}")

    def validate_template(template_id: str, body: dict[str, Any]) -> None:
        templating.parse_template(body)

    kinds = {
        "segment": KindSpec(
            cache(packaged_segment_bodies), validate_segment, "name", segment_backfill, [segments.invalidate]
        ),
        "scenario": KindSpec(
            cache(packaged_scenario_bodies), validate_scenario, "id", scenario_backfill, [scenarios.invalidate]
        ),
        "template": KindSpec(
            cache(templating.packaged_template_bodies), validate_template, changed=[templates.invalidate]
        ),
        "in_app": KindSpec(
            cache(packaged_message_bodies), validate_in_app, "id", changed=[get_inapp_definitions().invalidate]
        ),
    }
    # A new or changed segment (or a scenario's `who`) is evaluated over every existing profile at once.
    return DefinitionsService(get_definition_store(), get_clock(), kinds, backfill=get_backfill_service())


@cache
def get_event_store() -> DynamoEventStore:
    from chalicelib.tracking.adapters.dynamodb_events import DynamoEventStore

    s = get_settings()
    return DynamoEventStore(s.events_table, s.event_ttl_days)


@cache
def get_failed_event_store() -> DynamoFailedEventStore:
    from chalicelib.shared.secrets import signing_key
    from chalicelib.tracking.adapters.dynamodb_events import DynamoFailedEventStore

    s = get_settings()
    return DynamoFailedEventStore(s.failed_events_table, s.failed_event_ttl_days, signing_key)


@cache
def get_identity_store() -> DynamoIdentityStore:
    from chalicelib.shared.secrets import signing_key
    from chalicelib.tracking.adapters.dynamodb_identities import DynamoIdentityStore

    return DynamoIdentityStore(get_settings().identities_table, signing_key)


@cache
def get_profile_store() -> DynamoProfileStore:
    from chalicelib.profiles.adapters.dynamodb_profiles import DynamoProfileStore

    return DynamoProfileStore(get_settings().profiles_table)


@cache
def get_source_registry() -> DynamoSourceRegistry:
    from chalicelib.tracking.adapters.dynamodb_sources import DynamoSourceRegistry

    return DynamoSourceRegistry(get_settings().state_table)


@cache
def get_ingest_service() -> IngestService:
    from chalicelib.shared.secrets import signing_key
    from chalicelib.tracking.ingest import IngestService

    return IngestService(
        sources=get_source_registry(),
        events=get_event_store(),
        identities=get_identity_store(),
        failed=get_failed_event_store(),
        clock=get_clock(),
        secret=signing_key,
    )


@cache
def get_fold_service() -> FoldService:
    from chalicelib.profiles.fold_batches import FoldService

    return FoldService(
        events=get_event_store(),
        identities=get_identity_store(),
        profiles=get_profile_store(),
        failed=get_failed_event_store(),
        clock=get_clock(),
        max_anonymous_ids=get_settings().max_anonymous_ids_per_profile,
        cut_points=get_cut_point_store(),
        models=get_model_store(),
        segments=get_segment_definitions().get,
        propensity=get_propensity_store(),
    )


@cache
def get_archive_service() -> ArchiveService:
    from chalicelib.tracking.adapters.s3_archive import S3EventArchive
    from chalicelib.tracking.archive import ArchiveService

    s = get_settings()
    return ArchiveService(S3EventArchive(s.archive_bucket, s.state_table, s.events_table, s.event_ttl_days))


@cache
def get_archive_maintenance() -> ArchiveMaintenance:
    """The archive's compaction (daily schedule) and the refill of failed writes (that schedule, the admin API)."""
    from chalicelib.tracking.archive_maintenance import ArchiveMaintenance

    return ArchiveMaintenance(get_archive_service().archive)


@cache
def get_privacy_service() -> PrivacyService:
    from chalicelib.engagement.adapters.dynamodb_engagement import erase_person_messages, export_person_messages
    from chalicelib.privacy.adapters.dynamodb_personal_data import DynamoPersonalData
    from chalicelib.privacy.ports import PersonalDataStore
    from chalicelib.privacy.rights import PrivacyService, PrivacyTables
    from chalicelib.shared.secrets import signing_key

    s = get_settings()
    data = DynamoPersonalData(
        s.events_table,
        s.identities_table,
        s.profiles_table,
        s.segment_members_table,
        get_segment_store().member_partitions,
        secret=signing_key,
    )
    tables = PrivacyTables(s.profiles_table)
    # Bad rows (refused messages, events that failed to fold) found through their per-person pointers.
    failed = get_failed_event_store()
    tables.extra.append(
        PersonalDataStore(
            "failed_events",
            export=lambda keys: [dict(r) for r in failed.of_person(_person_refs(keys))],
            erase=lambda keys: failed.erase_person(_person_refs(keys)),
        )
    )
    # Runs, message records, send log, preferences, touches and waiting steps; a suppressed address stays suppressed
    # under a keyed hash.
    tables.extra.append(
        PersonalDataStore(
            "messages",
            export=lambda keys: export_person_messages(s.messages_table, keys, s.due_table),
            erase=lambda keys: erase_person_messages(s.messages_table, s.due_table, keys, signing_key()),
        )
    )
    # The event archive: the person's archived events exported; their day partitions rewritten without them.
    archive = get_archive_service()
    tables.extra.append(
        PersonalDataStore(
            "archived_events",
            export=lambda keys: archive.export(keys.profile_ids, days=keys.archived_days),
            erase=lambda keys: archive.erase(keys.profile_ids, days=keys.archived_days),
        )
    )
    # Push tokens' SNS endpoints and retirements (MessagesTable `push#<token>`): a token names a device, so the
    # endpoint is deleted at SNS and the record here; the tokens themselves go with the profile.
    push_tokens = get_push_tokens()

    def erase_push_tokens(keys: PersonKeys) -> int:
        for token in keys.device_tokens:
            get_push_sender().forget(token)
        return push_tokens.erase(keys.device_tokens)

    tables.extra.append(
        PersonalDataStore(
            "push_tokens", export=lambda keys: list(push_tokens.export(keys.device_tokens)), erase=erase_push_tokens
        )
    )
    # In-app state (triggered messages, impressions, dismissals) per profile.
    inapp = get_inapp_state_store()
    tables.extra.append(
        PersonalDataStore(
            "in_app",
            export=lambda keys: inapp.export(keys.profile_ids),
            erase=lambda keys: inapp.erase(keys.profile_ids),
        )
    )
    return PrivacyService(tables, data, get_clock(), get_profile_store())


def _person_refs(keys: PersonKeys) -> list[str]:
    """The refs bad rows are found by (`tracking.identity.person_refs`): the person's identity keys and profile ids."""
    return [*keys.identity_keys, *(f"profile:{pid}" for pid in keys.profile_ids)]


@cache
def get_segment_store() -> DynamoSegmentStore:
    from chalicelib.segments.adapters.dynamodb_segments import DynamoSegmentStore

    s = get_settings()
    return DynamoSegmentStore(s.segment_members_table, s.state_table)


@cache
def get_cut_point_store() -> DynamoCutPointStore:
    from chalicelib.profiles.adapters.dynamodb_sweeps import DynamoCutPointStore

    return DynamoCutPointStore(get_settings().state_table)


@cache
def get_segment_membership_service() -> SegmentMembershipService:
    from chalicelib.segments.membership import SegmentMembershipService

    return SegmentMembershipService(get_segment_store(), get_failed_event_store())


@cache
def get_segment_size_service() -> SegmentSizeService:
    from chalicelib.segments.adapters.dynamodb_segments import DynamoSegmentSizeCounter
    from chalicelib.segments.sizes import SegmentSizeService

    return SegmentSizeService(DynamoSegmentSizeCounter(get_settings().state_table), get_clock())


@cache
def get_lifecycle_sweep_service() -> LifecycleSweepService:
    from chalicelib.profiles.adapters.dynamodb_sweeps import DynamoSweepStore
    from chalicelib.profiles.sweeps import LifecycleSweepService

    s = get_settings()
    return LifecycleSweepService(DynamoSweepStore(s.profiles_table, s.state_table), get_fold_service(), get_clock())


@cache
def get_cut_points_service() -> CutPointsService:
    from chalicelib.profiles.sweeps import CutPointsService

    return CutPointsService(get_segment_store(), get_cut_point_store(), get_fold_service(), get_clock())


# -- predictions ------------------------------------------------------------------------------------------------------


@cache
def get_model_store() -> DynamoModelStore:
    from chalicelib.predictions.adapters.dynamodb_models import DynamoModelStore

    return DynamoModelStore(get_settings().state_table)


@cache
def get_propensity_store() -> DynamoPropensityStore:
    from chalicelib.predictions.adapters.dynamodb_models import DynamoPropensityStore

    return DynamoPropensityStore(get_settings().state_table)


class _StoredTrainingSource:
    """The propensity job's rows from the stored state: a sample of profiles (one Scan, the first `limit`) and each
    one's message records and scenario runs (two Queries of the person's MessagesTable partition)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def profiles(self) -> Iterator[Profile]:
        from chalicelib.profiles.adapters.dynamodb_backfill import DynamoProfileScan

        scan, after, seen = DynamoProfileScan(get_settings().profiles_table), None, 0
        while seen < self.limit:
            page, after = scan.scan_page(0, 1, after, min(500, self.limit - seen))
            for stored in page:
                if stored.live:
                    seen += 1
                    yield stored.profile()
            if after is None:
                return

    def messages(self, profile_id: str) -> list[Mapping[str, Any]]:
        return [dict(r) for r in get_message_store().for_profile(profile_id)]

    def runs(self, profile_id: str) -> list[Mapping[str, Any]]:
        return [run.model_dump() for run in get_run_store().for_profile(profile_id)]


PROPENSITY_SAMPLE = 20_000  # profiles per weekly run: 2 Queries each keeps the job well inside 15 minutes


@cache
def get_propensity_training_service() -> PropensityTrainingService:
    from chalicelib.predictions.propensity_training import PropensityTrainingService

    return PropensityTrainingService(
        _StoredTrainingSource(PROPENSITY_SAMPLE), get_propensity_store(), get_clock(), get_model_store()
    )


@cache
def get_training_service() -> TrainingService:
    from chalicelib.predictions.training import TrainingService

    return TrainingService(get_segment_store(), get_model_store(), get_clock(), summaries=_customer_summaries())


def _customer_summaries() -> Any:
    """The CLV job's history source (settings.CUSTOMER_HISTORY_SOURCES); None: the population rows."""
    s = get_settings()
    if s.customer_history == "athena":
        from chalicelib.predictions.adapters.athena_summary import AthenaCustomerSource

        results = f"s3://{s.archive_bucket}/athena-results/"
        return AthenaCustomerSource(s.archive_workgroup, s.archive_database, "events", results)
    if s.customer_history == "archive":
        from chalicelib.predictions.adapters.s3_archive_summary import S3ArchiveCustomerSource

        return S3ArchiveCustomerSource(s.archive_bucket)
    return None


@cache
def get_backfill_service() -> BackfillService:
    """The segment backfill: `start` is the `BackfillStarter` a segment definition change calls; `run` the worker."""
    import os

    from chalicelib.profiles.adapters.dynamodb_backfill import (
        DynamoBackfillJobStore,
        DynamoProfileScan,
        SqsBackfillQueue,
    )
    from chalicelib.profiles.backfill import BackfillService

    s = get_settings()
    return BackfillService(
        DynamoProfileScan(s.profiles_table),
        DynamoBackfillJobStore(s.state_table),
        SqsBackfillQueue(s.backfill_queue, os.environ.get("BACKFILL_QUEUE_URL") or None),
        get_fold_service(),
        get_clock(),
        parallelism=s.backfill_parallelism,
    )


@cache
def get_import_service() -> ImportService:
    """Bulk imports and Pinpoint migrations: `start` from an S3 drop or the admin API, `run` the import queue's steps.
    Suppressions go to delivery's message store; a static segment is saved as a definition (which backfills it)."""
    import os

    from chalicelib.imports import ImportService
    from chalicelib.imports.adapters.dynamodb_imports import DynamoImportJobStore
    from chalicelib.imports.adapters.s3_objects import S3ImportObjects
    from chalicelib.imports.adapters.sqs_imports import SqsImportQueue

    s = get_settings()

    def save_segment(segment_id: str, body: dict[str, Any]) -> None:
        get_definitions_service().put("segment", segment_id, body, by="import")

    return ImportService(
        S3ImportObjects(s.import_bucket),
        DynamoImportJobStore(s.state_table, s.failed_event_ttl_days),
        SqsImportQueue(s.import_queue, os.environ.get("IMPORT_QUEUE_URL") or None),
        get_ingest_service(),
        get_clock(),
        suppressions=_LazySuppressions(),
        save_segment=save_segment,
    )


@cache
def get_export_service() -> ExportService:
    """Segment exports: `start` from the admin API (a small segment inline), `run` the export queue's steps."""
    import os

    from chalicelib.exports import ExportService
    from chalicelib.exports.adapters.dynamodb_exports import DynamoExportJobStore
    from chalicelib.exports.adapters.s3_exports import S3ExportFiles
    from chalicelib.exports.adapters.sqs_exports import SqsExportQueue

    s = get_settings()
    return ExportService(
        DynamoExportJobStore(s.state_table),
        S3ExportFiles(s.export_bucket),
        SqsExportQueue(s.export_queue, os.environ.get("EXPORT_QUEUE_URL") or None),
        get_segment_store(),
        get_profile_store(),
        get_clock(),
    )


class _LazySuppressions:
    """Delivery's message store, built on the first suppression (it reads the signing key): most imports have none."""

    def suppress(self, channel: str, address: str, reason: str, now: Any) -> None:
        get_message_store().suppress(channel, address, reason, now)


# -- scenarios and delivery -------------------------------------------------------------------------------------------


@cache
def get_run_store() -> DynamoRunStore:
    from chalicelib.delivery.adapters.dynamodb_messages import DynamoRunStore

    return DynamoRunStore(get_settings().messages_table)


@cache
def get_message_store() -> DynamoMessageStore:
    from chalicelib.delivery.adapters.dynamodb_messages import DynamoMessageStore
    from chalicelib.shared.secrets import signing_key

    return DynamoMessageStore(get_settings().messages_table, address_key=signing_key)


@cache
def get_related_products() -> RecommendationService:
    """Templates' `related_products`: the similar-items lists (the co-purchase counters they replace stay unread)."""
    return get_recommendation_service()


@cache
def get_recommendation_service() -> RecommendationService:
    from chalicelib.recommendations import RecommendationService
    from chalicelib.recommendations.adapters.dynamodb_similar_items import DynamoSimilarItems

    return RecommendationService(DynamoSimilarItems(get_settings().state_table))


@cache
def get_similar_items_learning() -> SimilarItemsLearning:
    """The nightly similar-items job over the event archive (after compaction; `POST /admin/recommendations/learn`)."""
    from chalicelib.recommendations import SimilarItemsLearning
    from chalicelib.tracking.adapters.s3_archive import S3EventArchive

    s = get_settings()
    archive = S3EventArchive(s.archive_bucket, s.state_table, s.events_table, s.event_ttl_days)
    return SimilarItemsLearning(get_recommendation_service().store, archive)


@cache
def get_personalization_service() -> PersonalizationService:
    from chalicelib.personalization import PersonalizationService, load_slots

    return PersonalizationService(
        profiles=get_profile_store(),
        identities=get_identity_store(),
        recommendations=get_recommendation_service(),
        slots=load_slots,
        clock=get_clock(),
    )


@cache
def get_delivery_queue() -> SqsDeliveryQueue:
    import os

    from chalicelib.delivery.adapters.sqs_queue import SqsDeliveryQueue

    return SqsDeliveryQueue(get_settings().delivery_queue, os.environ.get("DELIVERY_QUEUE_URL") or None)


@cache
def get_audience_queue() -> SqsDeliveryQueue:
    import os

    from chalicelib.delivery.adapters.sqs_queue import SqsDeliveryQueue

    return SqsDeliveryQueue(get_settings().audience_queue, os.environ.get("AUDIENCE_QUEUE_URL") or None)


@cache
def get_audience_fanout() -> AudienceFanout:
    """Scheduled scenarios firing, and the audience queue's worker (segment pages -> one run per member)."""
    from chalicelib.delivery.adapters.dynamodb_messages import DynamoDueStore
    from chalicelib.scenarios.adapters.dynamodb_schedules import DynamoScheduleState
    from chalicelib.scenarios.fanout import AudienceFanout

    s = get_settings()
    due = DynamoDueStore(s.due_table)
    return AudienceFanout(
        runs=get_run_store(),
        state=DynamoScheduleState(s.state_table),
        members=get_segment_store(),
        audience_queue=get_audience_queue(),
        step_queue=get_delivery_queue(),
        clock=get_clock(),
        scenarios=get_scenarios,
        lookup=lambda scenario_id: get_broadcast_service().scenario(scenario_id),
        hooks=get_broadcast_service(),
        engagement=get_engagement_service(),
        schedule_step=lambda message, until, now: due.put(
            until, f"{message['p']}#{message['t']}#{message['s']}", message
        ),
    )


@cache
def get_packaged_scenarios() -> list[Scenario]:
    """The packaged scenarios, validated against the packaged segments and the template catalogue (once a process).

    The cross-wing check lives here: scenarios name templates, which belong to the delivery wing above them."""
    from chalicelib.delivery import templating
    from chalicelib.inapp import packaged_message_bodies
    from chalicelib.scenarios.loader import load_packaged_scenarios

    catalog = with_in_app(templating.known_templates(), templating.template_channels(), packaged_message_bodies())
    return load_packaged_scenarios(catalog)


def get_scenarios() -> list[Scenario]:
    """The scenarios in force (packaged files overlaid by stored definitions). The packaged ones are checked first,
    so a broken file still fails loudly at the first use, as before."""
    get_packaged_scenarios()
    return get_scenario_definitions().get()


@cache
def get_scenario_service() -> ScenarioService:
    from functools import partial

    from chalicelib.delivery.adapters.dynamodb_messages import batch_get_events
    from chalicelib.scenarios.triggers import ScenarioService

    return ScenarioService(
        runs=get_run_store(),
        read_events=partial(batch_get_events, get_settings().events_table),
        queue=get_delivery_queue(),
        clock=get_clock(),
        scenarios=get_scenarios,
        engagement=get_engagement_service(),
        interests=get_interest_index(),
        inapp=get_inapp_service(),
        profiles=get_profile_store(),
    )


# -- catalog ----------------------------------------------------------------------------------------------------------


@cache
def get_catalog_store() -> DynamoCatalogStore:
    from chalicelib.catalog.adapters.dynamodb_catalog import DynamoCatalogStore

    return DynamoCatalogStore(get_settings().catalog_table)


@cache
def get_interest_index() -> DynamoInterestIndex:
    from chalicelib.catalog.adapters.dynamodb_catalog import DynamoInterestIndex

    return DynamoInterestIndex(get_settings().state_table)


@cache
def get_catalog_service() -> CatalogService:
    from chalicelib.catalog.service import CatalogService

    return CatalogService(get_catalog_store(), get_clock(), lambda: get_settings().catalog_hosts)


@cache
def get_catalog_trigger_service() -> CatalogTriggerService:
    import os

    from chalicelib.delivery.adapters.dynamodb_messages import DynamoDueStore
    from chalicelib.delivery.adapters.sqs_queue import SqsDeliveryQueue
    from chalicelib.scenarios.catalog_triggers import CatalogTriggerService

    s = get_settings()
    fanout = SqsDeliveryQueue(s.catalog_fanout_queue, os.environ.get("CATALOG_FANOUT_QUEUE_URL") or None)
    return CatalogTriggerService(
        interests=get_interest_index(),
        profiles=get_profile_store(),
        runs=get_run_store(),
        queue=get_delivery_queue(),
        due=DynamoDueStore(s.due_table),
        fanout=_FanoutQueue(fanout),
        clock=get_clock(),
        scenarios=get_scenarios,
        per_minute=s.catalog_fanout_per_minute,
        engagement=get_engagement_service(),
    )


class _FanoutQueue:
    """The fan-out queue speaks the delivery queue's SQS shape: JSON messages, batches of 10."""

    def __init__(self, queue: object) -> None:
        self.queue = queue

    def send(self, jobs: list[dict[str, object]]) -> None:
        self.queue.enqueue(jobs)  # type: ignore[attr-defined]


@cache
def get_delivery_service() -> DeliveryService:
    from chalicelib.delivery.adapters.dynamodb_messages import DynamoDueStore
    from chalicelib.delivery.adapters.ses_email import SesEmailSender
    from chalicelib.delivery.adapters.sns_notify import SnsNotifier, topic_arn_by_name
    from chalicelib.delivery.adapters.webhook import UrllibWebhookCaller
    from chalicelib.delivery.steps import DeliveryService

    s = get_settings()
    sales = s.sales_alerts_topic_arn or cache(lambda: topic_arn_by_name(s.sales_alerts_topic))
    return DeliveryService(
        runs=get_run_store(),
        messages=get_message_store(),
        due=DynamoDueStore(s.due_table),
        queue=get_delivery_queue(),
        profiles=get_profile_store(),
        events=get_event_store(),
        email=SesEmailSender(s.email_from, s.ses_configuration_set),
        notifier=SnsNotifier({"sales": sales}),
        webhook=UrllibWebhookCaller(),
        related=get_related_products(),
        clock=get_clock(),
        scenarios=get_scenarios,
        scenario_at=get_scenario_at(),
        renderer=render_template,
        links=get_link_settings(),
        on_sent=lambda record: get_engagement_service().message_sent(record),
        on_skipped=lambda record: get_engagement_service().message_skipped(record),
        preferences=get_engagement_store().preferences,
        pacer=get_send_pacer() if s.send_rate_limit else None,
        catalog=get_catalog_store(),
        sources=get_source_registry().all_sources,  # cached a minute: where mail links back to the shop
        gate=lambda scenario_id: get_broadcast_service().hold_step(scenario_id),
        lookup=lambda scenario_id: get_broadcast_service().scenario(scenario_id),
        push=get_push_sender(),
        push_tokens=get_push_tokens(),
        inbox=get_inapp_service(),
    )


@cache
def get_push_tokens() -> PushTokens:
    """Push tokens' endpoint ARNs and retirements (MessagesTable `push#<token>`)."""
    from chalicelib.delivery.adapters.dynamodb_push_tokens import DynamoPushTokens

    return DynamoPushTokens(get_settings().messages_table)


@cache
def get_push_sender() -> PushSender:
    """Mobile push through the SNS platform applications named in settings (README "Mobile push")."""
    from chalicelib.delivery.adapters.sns_push import SnsPushSender, application_arn_by_name

    s = get_settings()
    name = s.push_application_name
    ios = s.push_apns_application_arn or cache(lambda: application_arn_by_name(name, ("APNS", "APNS_SANDBOX")))
    android = s.push_fcm_application_arn or cache(lambda: application_arn_by_name(name, ("GCM",)))
    return SnsPushSender({"ios": ios, "android": android}, get_push_tokens())


@cache
def get_send_pacer() -> SendPacer:
    """The sending rate shared by every container: a StateTable counter per window, the SES account's rate."""
    from chalicelib.delivery import guards
    from chalicelib.delivery.adapters.rate_counter import DynamoSendRateCounter
    from chalicelib.delivery.adapters.ses_quota import SesSendQuota
    from chalicelib.delivery.pacing import SendPacer

    return SendPacer(
        DynamoSendRateCounter(get_settings().state_table),
        get_clock(),
        guards.default_delivery_config,
        SesSendQuota(),
    )


@cache
def get_broadcast_service() -> BroadcastService:
    """Broadcast drafts (definitions store, kind `broadcast`), status and progress (StateTable), launch and hooks."""
    from chalicelib.broadcasts.adapters.dynamodb_broadcasts import DynamoBroadcastStatus
    from chalicelib.broadcasts.audience import RuleAudiences
    from chalicelib.broadcasts.service import BroadcastService
    from chalicelib.delivery import templating
    from chalicelib.delivery.guards import default_delivery_config
    from chalicelib.profiles import view
    from chalicelib.tracking.identity import identity_key

    s = get_settings()
    identities = get_identity_store()

    def timezone_of(profile_id: str) -> str | None:
        stored = get_profile_store().get(profile_id)
        return view.timezone_name(stored.document()) if stored is not None and stored.live else None

    def lookup(kind: str, value: str) -> str | None:
        key = identity_key(kind, value)  # type: ignore[arg-type]
        return identities.lookup([key]).get(key)

    return BroadcastService(
        definitions=get_definition_store(),
        status=DynamoBroadcastStatus(s.state_table),
        audience_queue=get_audience_queue(),
        identities=lookup,
        clock=get_clock(),
        known_segments=lambda: {d.name for d in get_segment_definitions().get()},
        template_channels=lambda: templating.catalogue_channels(get_template_definitions().get()),
        timezone_of=timezone_of,
        default_timezone=default_delivery_config().default_timezone,
        report_rows=lambda scenario_id: get_engagement_store().rows(scenario_id, assignments=False),
        audience_segments=RuleAudiences(get_definitions_service(), get_backfill_service().recent, get_clock()),
    )


# -- engagement (issue 5) ---------------------------------------------------------------------------------------------


@cache
def get_link_keyring() -> Keyring | None:
    """Keys for every link in our mail (open, click, unsubscribe, confirm): `ONE2ONE_LINK_KEYS` ("kid:base64,...",
    first signs; keep retired keys listed until their mail has aged out). Without it (local, tests) one key is derived
    from `ONE2ONE_SIGNING_KEY` under the same key id, so a deployment with only the signing key still signs. None when
    neither is set."""
    from chalicelib.engagement import tokens as lt
    from chalicelib.shared.secrets import signing_key

    s = get_settings()
    if s.link_keys:
        return lt.parse_keyring(s.link_keys)
    # Secrets Manager in AWS: only called when a link is signed or verified.
    return lt.keyring_from_signing_key(signing_key(), s.signing_key_id)


@cache
def get_link_settings() -> LinkSettings:
    """Where links point and what signs them, resolved at first use (the due reader and the sweep never sign)."""
    from chalicelib.engagement.links import LinkSettings
    from chalicelib.shared.secrets import signing_key

    s = get_settings()
    return LinkSettings(
        s.public_base_url,
        s.unsubscribe_mailto,
        keyring=get_link_keyring,
        signing_key=signing_key,
        tracked_link_ttl=timedelta(days=s.tracked_link_ttl_days),
    )


@cache
def get_engagement_store() -> DynamoEngagementStore:
    from chalicelib.engagement.adapters.dynamodb_engagement import DynamoEngagementStore

    s = get_settings()
    return DynamoEngagementStore(s.state_table, s.messages_table)


@cache
def get_daily_store() -> DynamoDailyStore:
    from chalicelib.engagement.adapters.dynamodb_engagement import DynamoDailyStore

    return DynamoDailyStore(get_settings().state_table)


@cache
def get_feedback_topic_arns() -> tuple[str, ...]:
    from chalicelib.delivery.adapters.sns_notify import topic_arn_by_name

    s = get_settings()
    arn = s.ses_feedback_topic_arn or topic_arn_by_name(s.ses_feedback_topic)
    return (arn,) if arn else ()


@cache
def get_engagement_service() -> EngagementService:
    from chalicelib.delivery.adapters.ses_email import SesEmailSender
    from chalicelib.engagement.recorder import EngagementService
    from chalicelib.shared.secrets import LazySigningKeys

    s = get_settings()
    return EngagementService(
        store=get_engagement_store(),
        messages=get_message_store(),
        events=get_event_store(),
        clock=get_clock(),
        keyring=get_link_keyring,
        # Unsubscribe links of the retired token scheme: the signing key, fetched at the first one, not at build.
        legacy_unsubscribe_keys=LazySigningKeys(s.signing_key_id),
        feedback_topic_arns=get_feedback_topic_arns,
        email=SesEmailSender(s.email_from, s.ses_configuration_set),
        public_base_url=s.public_base_url,
    )


@cache
def get_sms_consent_service() -> SmsConsentService:
    from chalicelib.delivery.adapters.sns_notify import SnsNotifier
    from chalicelib.delivery.guards import default_delivery_config
    from chalicelib.engagement.sms_consent import SmsConsentService

    return SmsConsentService(
        store=get_engagement_store(),
        sender=SnsNotifier({}),
        events=get_event_store(),
        clock=get_clock(),
        keyring=get_link_keyring,
        allowed_countries=lambda: frozenset(default_delivery_config().sms_countries),
    )


def _reset_delivery() -> None:
    import sys

    for factory in (
        get_run_store,
        get_message_store,
        get_related_products,
        get_recommendation_service,
        get_personalization_service,
        get_delivery_queue,
        get_audience_queue,
        get_audience_fanout,
        get_broadcast_service,
        get_scenario_service,
        get_delivery_service,
        get_send_pacer,
        get_link_keyring,
        get_link_settings,
        get_engagement_store,
        get_feedback_topic_arns,
        get_engagement_service,
        get_sms_consent_service,
        get_catalog_store,
        get_interest_index,
        get_catalog_service,
        get_catalog_trigger_service,
        get_push_tokens,
        get_push_sender,
        get_inapp_state_store,
        get_inapp_service,
    ):
        factory.cache_clear()
    for module in (
        "chalicelib.delivery.adapters.ses_email",
        "chalicelib.delivery.adapters.sns_notify",
        "chalicelib.delivery.adapters.sns_push",
    ):
        if module in sys.modules:
            sys.modules[module].reset_client()


def reset() -> None:
    """Drop every cached adapter and service (tests change environment between cases)."""
    for factory in (
        get_definition_store,
        get_segment_definitions,
        get_template_definitions,
        get_scenario_definitions,
        get_scenario_at,
        get_inapp_definitions,
        get_definitions_service,
        get_packaged_scenarios,
        get_event_store,
        get_failed_event_store,
        get_identity_store,
        get_profile_store,
        get_source_registry,
        get_ingest_service,
        get_fold_service,
        get_privacy_service,
        get_segment_store,
        get_cut_point_store,
        get_segment_membership_service,
        get_segment_size_service,
        get_lifecycle_sweep_service,
        get_cut_points_service,
        get_model_store,
        get_training_service,
        get_backfill_service,
        get_import_service,
        get_export_service,
        get_archive_service,
        get_archive_maintenance,
    ):
        factory.cache_clear()
    _reset_delivery()
    get_settings.cache_clear()
    from chalicelib.shared import secrets

    secrets.reset()


def get_local_outbox() -> MotoOutbox:
    """The embedded SES/SNS outbox of the local stack (not cached: the moto URL is read per call)."""
    import os

    from chalicelib.delivery.adapters.moto_outbox import MotoOutbox

    return MotoOutbox(os.environ.get("ONE2ONE_MOTO_URL") or os.environ.get("AWS_ENDPOINT_URL"))
