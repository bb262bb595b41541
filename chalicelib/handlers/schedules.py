"""Scheduled jobs: the lifecycle sweep over due profiles and the daily RFM / needs-group cut points.

Both can also be run on demand by invoking their Lambda (`aws lambda invoke --function-name one2one-<stage>-<name>`)
or, locally, `app.handler_map[<name>](<a Scheduled Event>, None)`. Both stop before the Lambda times out and
resume on the next run.
"""

from __future__ import annotations

import logging
from typing import Any

from chalice import Blueprint, Cron, Rate
from chalice.app import CloudWatchEvent

from chalicelib.shared.runtime import deadline_for

bp = Blueprint(__name__)
log = logging.getLogger("one2one")

SAFETY_MARGIN_SECONDS = 20.0
DEFAULT_BUDGET_SECONDS = 600.0  # without a Lambda context (local calls)


# Hourly, although each due day is swept once: a run that ran out of time resumes within the hour, and a day's
# changes are picked up soon after midnight UTC. An hour with nothing to do costs one GetItem.
@bp.schedule(Rate(1, unit=Rate.HOURS), name="lifecycle_sweep")
def lifecycle_sweep(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_lifecycle_sweep_service

    report = get_lifecycle_sweep_service().run(
        deadline_for(
            getattr(event, "context", None), default_budget=DEFAULT_BUDGET_SECONDS, margin=SAFETY_MARGIN_SECONDS
        )
    )
    log.info("lifecycle sweep: %s", report.as_dict())
    return report.as_dict()


# Daily: RFM recency moves with the calendar and the population changes slowly, so once a day is enough.
@bp.schedule(Cron(30, 1, "*", "*", "?", "*"), name="refresh_cut_points")
def refresh_cut_points(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_cut_points_service

    report = get_cut_points_service().run(
        deadline_for(
            getattr(event, "context", None), default_budget=DEFAULT_BUDGET_SECONDS, margin=SAFETY_MARGIN_SECONDS
        )
    )
    log.info("cut points: %s", report.as_dict())
    return report.as_dict()


# Weekly: the parameters describe the buyer population, which moves slowly; each customer's predictions are refreshed
# by the fold from the stored parameters whenever they order. `make package` gives this one function a layer with
# numpy and scipy (local/package.py): no other function carries them.
@bp.schedule(Cron(0, 3, "?", "*", "MON", "*"), name="fit_predictions")
def fit_predictions(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.bootstrap import get_propensity_training_service, get_training_service

    clv = get_training_service().run()
    # After CLV: the propensity models read P(alive) from the CLV parameters just fitted. Their rows need a Scan of
    # the profiles, which a shop with fewer buyers than one model's positives is not worth (the buyer count comes
    # from the CLV job's Query of the population rows).
    propensity = get_propensity_training_service()
    if clv.customers < propensity.min_buyers:
        return {**clv.as_dict(), "propensity": {"outcome": "insufficient_data", "reason": "too few buyers to scan for"}}
    return {**clv.as_dict(), "propensity": propensity.run().as_dict()}
