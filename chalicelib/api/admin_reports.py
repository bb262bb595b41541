"""Admin reports: per scenario, step, variant and channel counters with rates, A/B significance and holdout uplift."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import asdict
from datetime import date
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.api.admin import iam, local_token_error
from chalicelib.api.http import aws_failures_as_503, json_response

if TYPE_CHECKING:
    from chalicelib.engagement.reports import Counters

bp = Blueprint(__name__)

# The minimum detectable effect the A/B and auto-winner gates are sized for: +2 points of conversion.
DEFAULT_MDE = 0.02
ARM_ROWS = ("treated", "holdout")


def scenario_report(scenario_id: str, rows: dict[str, dict[str, float]], mde: float = DEFAULT_MDE) -> dict[str, Any]:
    """The report document of one scenario from its stored counter rows (pure; see `engagement/reports`)."""
    from chalicelib.engagement import reports as r

    counters: dict[r.ReportKey, r.Counters] = {}
    arms: dict[str, dict[str, float]] = {}
    send_time: dict[tuple[str, str], dict[str, r.Counters]] = {}
    for sk, values in rows.items():
        parts = sk.split("#")
        if len(parts) == 4 and parts[0] == "sto" and parts[3] in r.SEND_TIME_ARMS:  # `sto#<step>#<channel>#<arm>`
            send_time.setdefault((parts[1], parts[2]), {})[parts[3]] = _counters(values)
            continue
        step, variant, channel = (parts + ["", "", ""])[:3]
        if step == "*" and variant in ARM_ROWS:
            arms[variant] = values
            continue
        counters[r.ReportKey(scenario_id, step, None if variant == "none" else variant, channel)] = _counters(values)

    skipped: dict[tuple[str, str | None, str], dict[str, int]] = {}
    for sk, values in rows.items():
        parts = (sk.split("#") + ["", "", ""])[:3]
        reasons = r.skipped_reasons(values)
        if reasons:
            skipped[(parts[0], None if parts[1] == "none" else parts[1], parts[2])] = reasons

    def row(item: r.ReportRow) -> dict[str, Any]:
        key = (item.key.step, item.key.variant, item.key.channel)
        return {
            **asdict(item.key),
            "counters": asdict(item.counters),
            "skipped": skipped.get(key, {}),  # not sent, by guard reason
            "rates": asdict(item.rates),
        }

    document: dict[str, Any] = {
        "scenario_id": scenario_id,
        "rows": [row(i) for i in r.build_report(counters)],
        "totals": [row(i) for i in r.build_report(counters, by=("scenario_id", "channel"))],
        "ab_tests": [],
    }
    steps = sorted({(k.step, k.channel) for k in counters})
    for step, channel in steps:
        variants = [
            (k.variant, c) for k, c in counters.items() if k.step == step and k.channel == channel and k.variant
        ]
        arm_map = r.arms_from_counters([(str(v), c) for v, c in variants])
        if len(arm_map) < 2:
            continue
        names = sorted(arm_map)
        base = names[0]
        comparisons = []
        for other in names[1:]:
            result = r.compare_arms(arm_map[other], arm_map[base], mde=mde)
            comparisons.append(
                {
                    "variant": other,
                    "against": base,
                    "diff": result.test.diff,
                    "p_value": result.test.p_value,
                    "min_sample_per_arm": result.min_sample,
                    "enough_data": result.enough_data,
                    "significant": result.significant,
                }
            )
        document["ab_tests"].append(
            {
                "step": step,
                "channel": channel,
                "metric": "conversions / delivered",
                "arms": {n: asdict(a) | {"rate": a.rate} for n, a in arm_map.items()},
                "comparisons": comparisons,
                "winner": r.pick_winner(arm_map, mde=mde),  # None until one arm beats every other with enough data
            }
        )
    treated, holdout = arms.get("treated", {}), arms.get("holdout", {})
    uplift = None
    if treated and holdout:

        def arm(values: dict[str, float]) -> r.Arm:
            trials = int(values.get("assigned", 0))
            return r.Arm(min(int(values.get("run_conversions", 0)), trials), trials)

        measured = r.holdout_uplift(arm(treated), arm(holdout))
        if measured is not None:
            uplift = asdict(measured) | {"relative": measured.relative}
    document["send_time"] = [
        {"step": step, "channel": channel, **r.send_time_comparison(by_arm, channel, mde=mde)}
        for (step, channel), by_arm in sorted(send_time.items())
    ]
    document["holdout"] = {
        "treated": {k: treated.get(k, 0) for k in ("assigned", "run_conversions")},
        "holdout": {k: holdout.get(k, 0) for k in ("assigned", "run_conversions", "revenue")},
        "uplift": uplift,
    }
    return document


def _counters(values: dict[str, float]) -> Counters:
    """One stored counter row as `Counters` (fields it lacks are 0; only revenue is a float)."""
    from chalicelib.engagement.reports import Counters

    known = {f: values.get(f, 0) for f in Counters.__dataclass_fields__}
    return Counters(**{k: (float(v) if k == "revenue" else int(v)) for k, v in known.items()})  # type: ignore[arg-type]


@bp.route("/admin/reports/scenarios", methods=["GET"], authorizer=iam)
@aws_failures_as_503
def list_reports() -> Response:
    from chalicelib.bootstrap import get_engagement_store

    if (denied := local_token_error()) is not None:
        return denied
    query: Mapping[str, str] = bp.current_request.query_params or {}
    try:
        limit = int(query.get("limit", "20"))
        if not 1 <= limit <= 100:
            raise ValueError
        cursor = base64.urlsafe_b64decode(query["cursor"].encode()).decode() if query.get("cursor") else None
    except (ValueError, UnicodeDecodeError):
        return json_response(400, {"error": "invalid_parameter", "message": "limit 1..100 and an opaque cursor"})
    store = get_engagement_store()
    ids, last = store.scenario_ids(limit, cursor)
    items = []
    for scenario_id in ids:
        document = scenario_report(scenario_id, store.rows(scenario_id))
        items.append({"scenario_id": scenario_id, "totals": document["totals"], "holdout": document["holdout"]})
    next_cursor = base64.urlsafe_b64encode(last.encode()).decode() if last else None
    return json_response(200, {"scenarios": items, "cursor": next_cursor})


@bp.route("/admin/reports/scenarios/{scenario_id}", methods=["GET"], authorizer=iam)
@aws_failures_as_503
def get_report(scenario_id: str) -> Response:
    from chalicelib.bootstrap import get_engagement_store

    if (denied := local_token_error()) is not None:
        return denied
    rows = get_engagement_store().rows(scenario_id)
    if not rows:
        return json_response(404, {"error": "not_found", "message": f"no report for {scenario_id}"})
    return json_response(200, scenario_report(scenario_id, rows))


def daily_range(query: Mapping[str, str], today: date) -> tuple[date, date] | str:
    """(from, to) dates of a daily-series request: defaults to the 30 days up to today; the bad field when invalid."""
    from datetime import timedelta

    from chalicelib.engagement.daily import MAX_DAYS

    try:
        end = date.fromisoformat(query["to"]) if query.get("to") else today
    except ValueError:
        return "to"
    try:
        start = date.fromisoformat(query["from"]) if query.get("from") else end - timedelta(days=29)
    except ValueError:
        return "from"
    if start > end or (end - start).days >= MAX_DAYS:
        return "from"
    return start, end


@bp.route("/admin/reports/daily", methods=["GET"], authorizer=iam)
@aws_failures_as_503
def daily_report() -> Response:
    """Events per day by type, active profiles per day, email sent / delivered / bounced / complaints per day with
    their rates (`engagement/daily.py`), for `from`..`to` (`YYYY-MM-DD`, inclusive, at most 93 days)."""
    from chalicelib.bootstrap import get_daily_store
    from chalicelib.engagement.daily import MAX_DAYS, days_between, series
    from chalicelib.shared.clock import get_clock

    if (denied := local_token_error()) is not None:
        return denied
    answer = daily_range(bp.current_request.query_params or {}, get_clock().now().date())
    if isinstance(answer, str):
        message = f"from and to are YYYY-MM-DD days, from <= to, at most {MAX_DAYS} days apart"
        return json_response(400, {"success": False, "error": "invalid_parameter", "message": message, "field": answer})
    days = days_between(*answer)
    return json_response(200, {"from": days[0], "to": days[-1], **series(days, get_daily_store().rows(days))})
