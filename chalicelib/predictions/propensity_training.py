"""The propensity job: churn, 30-day purchase, per-channel response and per-scenario uplift models, refitted from
stored profiles, message records and scenario runs; each stored only when its data can support it.

Training rows come from a time split rebuilt from what is stored (no event archive yet): features as of a cut-off
t0 (`propensity.features_as_of` rolls a profile back) and the outcome in (t0, t0 + 30 days]:
- purchase_30d: everyone seen before t0 = now - 30 d; label = an order after t0 (`activity.order_ids` times).
- churn_risk: customers (an order before t0) active in the 90 days before t0; label = no visit and no order after t0.
- response.<channel>: each message sent at least 3 days ago, features as of its send; label = a human open or click
  (email: the daily counts of `Email Opened` / `Email Link Clicked` on the send day and the two after, which cannot
  tell two messages of one day apart) or, for channels without opens, an order within 3 days.
- uplift.<scenario>: each run entered at least 7 days ago, features as of its entry; label = an order within 7 days
  (the scenario report's conversion window); treated runs vs holdout runs, one T-learner per scenario.
A model whose rows are too few (or lack positives) keeps its previous fit; every run is recorded.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.predictions.clv import DAY_SECONDS
from chalicelib.predictions.models import TrainingReport
from chalicelib.predictions.ports import ModelStore, PropensityStore, TrainingSource
from chalicelib.predictions.propensity import HORIZON_DAYS, LogisticModel, PropensityModels, features_as_of
from chalicelib.shared.clock import Clock

if TYPE_CHECKING:
    from chalicelib.predictions.propensity_fit import Example
    from chalicelib.profiles.model import Profile

__all__ = ["PropensityTrainingService", "TrainingRows", "training_rows"]

log = logging.getLogger("one2one")

MIN_ROWS = 200  # a 13-feature logistic model on fewer rows fits noise
MIN_POSITIVES = 30  # ...and needs enough of the rarer outcome to say anything about it (both classes)
MIN_ARM_ROWS = 200  # per arm of an uplift model: treated and holdout each
RESPONSE_WINDOW_DAYS = 3
CONVERSION_WINDOW_DAYS = 7
UPLIFT_REPORT_SHARE = 0.3


def _ts(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _ordered_between(p: Profile, start: float, end: float) -> bool:
    return any(start < ts <= end for ts in p.activity.order_ids.values())


def _visited_after(p: Profile, start: float) -> bool:
    return any(s and s[-1] > start for s in p.activity.sessions)


class TrainingRows:
    """The rows of one run, by model name."""

    def __init__(self) -> None:
        self.purchase: list[Example] = []
        self.churn: list[Example] = []
        self.response: dict[str, list[Example]] = defaultdict(list)
        self.uplift: dict[str, list[Example]] = defaultdict(list)
        self.profiles = 0


def training_rows(source: TrainingSource, now_ts: float, clv: Any = None) -> TrainingRows:
    """Build every model's rows from `source` as of `now_ts` (see the module docstring for each label)."""
    from chalicelib.predictions.propensity_fit import Example  # numpy: the job only

    rows = TrainingRows()
    t0 = now_ts - HORIZON_DAYS * DAY_SECONDS
    bgnbd = clv.bgnbd if clv is not None else None
    day = DAY_SECONDS
    for p in source.profiles():
        rows.profiles += 1
        first = p.activity.first_ts
        if first is not None and first <= t0:
            x = features_as_of(p, t0, now_ts, bgnbd)
            bought = _ordered_between(p, t0, now_ts)
            rows.purchase.append(Example(x=x, y=int(bought), key=p.profile_id))
            active = x["days_since_visit"] <= 90 or x["days_since_order"] <= 90
            if x["has_ordered"] and active:
                rows.churn.append(Example(x=x, y=int(not bought and not _visited_after(p, t0)), key=p.profile_id))
        for record in source.messages(p.profile_id):
            sent = _ts(record.get("sent_at"))
            channel = str(record.get("channel") or "")
            if (
                record.get("status") != "sent"
                or sent is None
                or not channel
                or sent > now_ts - RESPONSE_WINDOW_DAYS * day
            ):
                continue
            x = features_as_of(p, sent, now_ts, bgnbd)
            if channel == "email":
                days = {
                    datetime.fromtimestamp(sent + k * day, UTC).strftime("%Y-%m-%d")
                    for k in range(RESPONSE_WINDOW_DAYS)
                }
                daily = p.activity.daily
                hits = sum(
                    n
                    for name in ("Email Opened", "Email Link Clicked")
                    for d, n in daily.get(name, {}).items()
                    if d in days
                )
                responded = hits > 0
            else:
                responded = _ordered_between(p, sent, sent + RESPONSE_WINDOW_DAYS * day)
            rows.response[channel].append(Example(x=x, y=int(responded), key=str(record.get("message_id", ""))))
        for run in source.runs(p.profile_id):
            entered = _ts(run.get("entered_at"))
            scenario = str(run.get("scenario_id") or "")
            if entered is None or not scenario or entered > now_ts - CONVERSION_WINDOW_DAYS * day:
                continue
            x = features_as_of(p, entered, now_ts, bgnbd)
            converted = _ordered_between(p, entered, entered + CONVERSION_WINDOW_DAYS * day)
            rows.uplift[scenario].append(
                Example(x=x, y=int(converted), treated=not run.get("holdout"), key=p.profile_id)
            )
    return rows


def _enough(rows: list[Example]) -> str:
    """Why `rows` cannot support a model, or '' when they can."""
    positives = sum(r.y for r in rows)
    if len(rows) < MIN_ROWS or min(positives, len(rows) - positives) < MIN_POSITIVES:
        return f"{len(rows)} rows, {positives} positive (need {MIN_ROWS} and {MIN_POSITIVES} of each outcome)"
    return ""


class PropensityTrainingService:
    def __init__(
        self, source: TrainingSource, store: PropensityStore, clock: Clock, clv_store: ModelStore | None = None
    ) -> None:
        self.source = source
        self.store = store
        self.clock = clock
        self.clv_store = clv_store
        self.min_buyers = MIN_POSITIVES  # below this many buyers no purchase or churn model can fit: not worth a run

    def run(self) -> TrainingReport:
        from chalicelib.predictions.propensity_fit import fit_logistic, fit_uplift  # scikit-learn: this job only

        started = time.monotonic()
        now = self.clock.now()
        at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        clv = self.clv_store.current() if self.clv_store else None
        rows = training_rows(self.source, now.timestamp(), clv)
        previous = self.store.current()
        churn = previous.churn if previous else None
        purchase = previous.purchase_30d if previous else None
        response: dict[str, LogisticModel | None] = dict(previous.response) if previous else {}
        uplift = dict(previous.uplift) if previous else {}
        fitted = dict(previous.fitted) if previous else {}
        diagnostics: dict[str, Any] = {}
        kept: dict[str, str] = {}

        def attempt(name: str, data: list[Example]) -> Any:
            why = _enough(data)
            if why:
                kept[name] = why
                return None
            model = fit_logistic(data)
            diagnostics[name] = {k: v for k, v in model.metrics.items()}
            fitted[name] = at
            return model

        churn = attempt("churn_risk", rows.churn) or churn
        purchase = attempt("purchase_30d", rows.purchase) or purchase
        for channel, data in sorted(rows.response.items()):
            response[channel] = attempt(f"response.{channel}", data) or response.get(channel)
        for scenario, data in sorted(rows.uplift.items()):
            name = f"uplift.{scenario}"
            arms = [r for r in data if r.treated], [r for r in data if not r.treated]
            why = next((w for w in (_enough(arm) for arm in arms) if w), "")
            if why or min(len(a) for a in arms) < MIN_ARM_ROWS:
                kept[name] = f"treated/holdout arms: {why or 'too few runs'}"
                continue
            model = fit_uplift(data, share=UPLIFT_REPORT_SHARE)
            uplift[scenario] = model
            diagnostics[name] = model.metrics
            fitted[name] = at
        kept_response = {k: v for k, v in response.items() if v is not None}
        report = TrainingReport(outcome="insufficient_data", at=at, customers=rows.profiles, diagnostics=diagnostics)
        report.diagnostics["model"] = "propensity"
        if kept:
            report.diagnostics["kept_previous"] = kept
        if any(name in fitted and fitted[name] == at for name in diagnostics):
            report.outcome = "fitted"
            self.store.save(
                PropensityModels(
                    fitted_at=at,
                    churn=churn,
                    purchase_30d=purchase,
                    response=kept_response,
                    uplift=uplift,
                    fitted=fitted,
                )
            )
        else:
            report.reason = "no model had enough rows; previous models kept"
        report.seconds = round(time.monotonic() - started, 3)
        self.store.record_run(report)
        log.info("propensity: %s", {k: v for k, v in report.as_dict().items() if k != "diagnostics"})
        return report
