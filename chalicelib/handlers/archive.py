"""The event archive's daily upkeep: refill the batches whose write failed, then compact the days written since their
last compaction (tracking/archive_maintenance.py), then learn the similar-items lists from the days now complete
(recommendations/learning.py)."""

from __future__ import annotations

import logging
from typing import Any

from chalice import Blueprint, Cron
from chalice.app import CloudWatchEvent

from chalicelib.shared.runtime import deadline_for

bp = Blueprint(__name__)
log = logging.getLogger("one2one")

SAFETY_MARGIN_SECONDS = 60.0  # a day's merge (read, write, delete) is started only with this much time left
DEFAULT_BUDGET_SECONDS = 600.0


# Daily at 02:15 UTC: yesterday is complete by then except for late events and imports, which mark their day again
# and are merged the next night. Refill first, so a refilled batch is compacted in the same run. The similar-items job
# comes last, in the same invocation: it learns only compacted days, so running it right after compaction learns
# yesterday the same night, with no second schedule to keep in order; a day it has no time left for is learnt on the
# next run (its cursor).
@bp.schedule(Cron(15, 2, "*", "*", "?", "*"), name="compact_archive")
def compact_archive(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_archive_maintenance, get_similar_items_learning
    from chalicelib.shared.clock import get_clock

    context = getattr(event, "context", None)
    deadline = deadline_for(context, default_budget=DEFAULT_BUDGET_SECONDS, margin=SAFETY_MARGIN_SECONDS)
    maintenance = get_archive_maintenance()
    refilled = maintenance.refill()
    report = maintenance.compact_due(get_clock().now(), deadline)
    log.info("archive upkeep: refilled %s, compacted %s", refilled, report.as_dict())
    learnt = get_similar_items_learning().run(get_clock().now(), deadline).as_dict()
    log.info("similar items learnt: %s", learnt)
    return {"refilled": refilled, "compacted": report.as_dict(), "similar_items": learnt}
