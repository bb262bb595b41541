"""Campaign reports: KPI rates per (scenario, step, variant, channel), A/B significance, holdout uplift, winner rule.

Counting conventions (the service that fills `Counters` must follow them, or the rates mean nothing):
- every count is of distinct recipients per message (a person opening five times is one human open);
- `human_opens` / `machine_opens` split opens by `engagement.classify_open`; only human opens enter rates;
- `clicks` are human clicks; `conversions` are attributed orders (`attribution.attribute`), `revenue` their sum.

Denominators follow the common ESP definitions: delivery rate over `sent`, everything else over `delivered`, and
click-to-open over human opens. A rate with a zero denominator, or one that cannot exist on the channel (opens and
click-to-open for SMS), is None ("n/a"), never 0.

Statistics use only the standard library (`math.erfc` for normal tails, `statistics.NormalDist` for quantiles).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from statistics import NormalDist

OPEN_CHANNELS: frozenset[str] = frozenset({"email", "push"})  # channels where an open can be observed at all
_NORMAL = NormalDist()


SKIPPED_PREFIX = "skipped_"  # report counters of messages a guard skipped, one per reason: `skipped_no_consent`


def add_run_counts(
    rows: dict[str, dict[str, float]], assigned: Mapping[str, int], converted: Mapping[str, Mapping[str, float]]
) -> None:
    """Add what the run records hold (assignments and conversions per arm) to the arm rows' legacy counters, in
    place: the counters hold what was counted before the run records did, so the sums count each run and each
    (order, run) once. Revenue only on the holdout row, as the counters always had it (the treated arm's revenue is
    the step rows' attributed revenue); an arm with nothing gets no row."""
    for arm in ("treated", "holdout"):
        conversions = converted.get(arm, {})
        increments = {
            "assigned": float(assigned.get(arm, 0)),
            "run_conversions": float(conversions.get("run_conversions", 0.0)),
        }
        if arm == "holdout":
            increments["revenue"] = float(conversions.get("revenue", 0.0))
        present = {name: value for name, value in increments.items() if value}
        if present:
            row = rows.setdefault(f"*#{arm}#*", {})
            for name, value in present.items():
                row[name] = row.get(name, 0.0) + value


def skipped_reasons(values: Mapping[str, float]) -> dict[str, int]:
    """The non-zero `skipped_<reason>` counters of one report row, by reason."""
    return {k.removeprefix(SKIPPED_PREFIX): int(v) for k, v in values.items() if k.startswith(SKIPPED_PREFIX) and v}


@dataclass(frozen=True)
class ReportKey:
    """What one row of counters is about. `variant` None: no A/B test on that step."""

    scenario_id: str
    step: str
    variant: str | None
    channel: str


@dataclass(frozen=True)
class Counters:
    """Raw counts for one ReportKey (see the module docstring for what each one counts)."""

    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    human_opens: int = 0
    machine_opens: int = 0
    clicks: int = 0
    unsubscribes: int = 0
    complaints: int = 0
    conversions: int = 0
    revenue: float = 0.0

    def __add__(self, other: Counters) -> Counters:
        return Counters(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


@dataclass(frozen=True)
class Rates:
    """KPI rates in [0, 1] (revenue per recipient in currency); None = not applicable or no denominator."""

    delivery_rate: float | None
    human_open_rate: float | None
    machine_open_share: float | None
    click_rate: float | None
    click_to_open: float | None
    unsubscribe_rate: float | None
    complaint_rate: float | None
    bounce_rate: float | None
    conversion_rate: float | None
    revenue_per_recipient: float | None


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def rates(counters: Counters, channel: str) -> Rates:
    """The KPI rates of one row.

    Example:
        >>> rates(Counters(sent=100, delivered=98, human_opens=40, clicks=10), "email").click_to_open
        0.25
        >>> rates(Counters(sent=100, delivered=98, clicks=10), "sms").human_open_rate is None
        True
    """
    c = counters
    opens = channel in OPEN_CHANNELS
    return Rates(
        delivery_rate=_ratio(c.delivered, c.sent),
        # Push has no delivery receipts (SNS accepted = sent): its opens (`Push Opened`) are over what was sent.
        human_open_rate=_ratio(c.human_opens, c.sent if channel == "push" else c.delivered) if opens else None,
        machine_open_share=_ratio(c.machine_opens, c.human_opens + c.machine_opens) if opens else None,
        click_rate=_ratio(c.clicks, c.delivered),
        click_to_open=_ratio(c.clicks, c.human_opens) if opens else None,
        unsubscribe_rate=_ratio(c.unsubscribes, c.delivered),
        complaint_rate=_ratio(c.complaints, c.delivered),
        bounce_rate=_ratio(c.bounced, c.sent),
        conversion_rate=_ratio(c.conversions, c.delivered),
        revenue_per_recipient=_ratio(c.revenue, c.delivered),
    )


@dataclass(frozen=True)
class ReportRow:
    key: ReportKey
    counters: Counters
    rates: Rates


def build_report(
    counters: Mapping[ReportKey, Counters], *, by: tuple[str, ...] = ("scenario_id", "step", "variant", "channel")
) -> list[ReportRow]:
    """Rows with rates, summed over the ReportKey fields not in `by` (those become `"*"`), sorted by key.

    Example: `build_report(c, by=("scenario_id", "variant", "channel"))` rolls steps up per variant."""
    unknown = set(by) - {f.name for f in fields(ReportKey)}
    if unknown:
        raise ValueError(f"unknown report fields {sorted(unknown)}")
    grouped: dict[ReportKey, Counters] = {}
    for key, value in counters.items():
        rolled = ReportKey(**{f.name: (getattr(key, f.name) if f.name in by else "*") for f in fields(ReportKey)})
        grouped[rolled] = grouped.get(rolled, Counters()) + value
    ordered = sorted(grouped.items(), key=lambda kv: tuple(str(getattr(kv[0], f.name)) for f in fields(ReportKey)))
    return [ReportRow(key, value, rates(value, key.channel)) for key, value in ordered]


# --------------------------------------------------------------------------------------------------------------------
# A/B significance
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    """One group in a test: `successes` of `trials` (e.g. conversions of delivered, or of assigned for a holdout)."""

    successes: int
    trials: int

    def __post_init__(self) -> None:
        if self.trials < 0 or self.successes < 0 or self.successes > self.trials:
            raise ValueError(f"need 0 <= successes <= trials, got {self.successes}/{self.trials}")

    @property
    def rate(self) -> float | None:
        return self.successes / self.trials if self.trials else None


@dataclass(frozen=True)
class ZTest:
    """Two-proportion z-test of a vs b: `diff` = rate(a) - rate(b); `p_value` two-sided."""

    z: float
    p_value: float
    diff: float


def two_proportion_z_test(a: Arm, b: Arm) -> ZTest:
    """Pooled two-proportion z-test (the textbook test for "are these two rates different?").

    z = (p_a - p_b) / sqrt(p (1 - p) (1/n_a + 1/n_b)) with the pooled p = (x_a + x_b) / (n_a + n_b);
    two-sided p = erfc(|z| / sqrt 2). With an empty arm, or both rates 0 % or 100 % (no variance), there is no evidence
    either way: z = 0, p = 1.
    Example:
        >>> round(two_proportion_z_test(Arm(250, 1000), Arm(200, 1000)).p_value, 4)
        0.0074
    """
    if a.trials == 0 or b.trials == 0:
        return ZTest(0.0, 1.0, 0.0)
    pa, pb = a.successes / a.trials, b.successes / b.trials
    pooled = (a.successes + b.successes) / (a.trials + b.trials)
    se = math.sqrt(pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials))
    if se == 0:
        return ZTest(0.0, 1.0, pa - pb)
    z = (pa - pb) / se
    return ZTest(z, min(1.0, math.erfc(abs(z) / math.sqrt(2))), pa - pb)


def min_sample_per_arm(baseline: float, mde: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Recipients needed in EACH arm to detect an absolute lift of `mde` over `baseline` (two-sided test).

    n = (z_{1-alpha/2} sqrt(2 p_bar (1 - p_bar)) + z_{power} sqrt(p1 (1 - p1) + p2 (1 - p2)))^2 / mde^2,
    p1 = baseline, p2 = baseline + mde, p_bar = (p1 + p2) / 2 (Fleiss, without continuity correction), rounded up.
    Example: 10 % baseline, +2 points, alpha 0.05, power 0.8 -> 3841 per arm.
    Raises ValueError when the rates leave [0, 1] or mde is 0.
    """
    p1, p2 = baseline, baseline + mde
    if not (0 <= p1 <= 1 and 0 <= p2 <= 1) or mde == 0:
        raise ValueError("need 0 <= baseline, baseline + mde <= 1 and mde != 0")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError("alpha and power must be in (0, 1)")
    z_alpha = _NORMAL.inv_cdf(1 - alpha / 2)
    z_power = _NORMAL.inv_cdf(power)
    p_bar = (p1 + p2) / 2
    root = z_alpha * math.sqrt(2 * p_bar * (1 - p_bar)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root**2 / mde**2 - 1e-9)  # tolerance: an exact integer must not round up to the next one


@dataclass(frozen=True)
class Comparison:
    """A vs B with the sample-size gate: `significant` only when both arms reached `min_sample` and p < alpha."""

    test: ZTest
    min_sample: int
    enough_data: bool
    significant: bool


def compare_arms(
    a: Arm, b: Arm, *, mde: float, baseline: float | None = None, alpha: float = 0.05, power: float = 0.8
) -> Comparison:
    """Significance of a vs b, gated on the planned sample size.

    `baseline` should be the rate planned before the test (e.g. last month's conversion rate); when None, b's observed
    rate is used. Deciding on p < alpha before the planned sample is reached inflates false positives (peeking), hence
    the gate.
    """
    base = baseline if baseline is not None else (b.rate or 0.0)
    if base + mde > 1:  # the plan cannot be reached upward; size it for a drop of the same amount instead
        mde = -mde
    needed = min_sample_per_arm(base, mde, alpha=alpha, power=power)
    test = two_proportion_z_test(a, b)
    enough = a.trials >= needed and b.trials >= needed
    return Comparison(test, needed, enough, enough and test.p_value < alpha)


def pick_winner(
    arms: Mapping[str, Arm], *, mde: float, baseline: float | None = None, alpha: float = 0.05, power: float = 0.8
) -> str | None:
    """The arm with the best rate, once it is significantly better than EVERY other arm (each with enough data).

    Requiring every pairwise test to reject is an intersection-union test, so the claim "this arm beats all others"
    keeps level alpha without a multiplicity correction. Ties for the best rate, or any inconclusive pair: None.
    """
    observed = {name: arm.rate for name, arm in arms.items() if arm.rate is not None}
    if len(observed) < 2 or len(observed) != len(arms):
        return None
    best_rate = max(observed.values())
    leaders = [name for name, rate in observed.items() if rate == best_rate]
    if len(leaders) != 1:
        return None
    best = leaders[0]
    for name, arm in arms.items():
        if name == best:
            continue
        result = compare_arms(arms[best], arm, mde=mde, baseline=baseline, alpha=alpha, power=power)
        if not result.significant or result.test.diff <= 0:
            return None
    return best


# --------------------------------------------------------------------------------------------------------------------
# Holdout uplift
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uplift:
    """treated rate - holdout rate, with a Wald confidence interval [low, high] at `confidence`."""

    treated_rate: float
    holdout_rate: float
    diff: float
    low: float
    high: float
    confidence: float

    @property
    def relative(self) -> float | None:
        """diff / holdout rate (None when the holdout never converted)."""
        return self.diff / self.holdout_rate if self.holdout_rate > 0 else None


def holdout_uplift(treated: Arm, holdout: Arm, *, confidence: float = 0.95) -> Uplift | None:
    """Incremental conversion rate caused by the scenario, with a Wald interval for the difference of proportions.

    se = sqrt(p_t (1 - p_t) / n_t + p_h (1 - p_h) / n_h) (unpooled: the two rates are not assumed equal);
    interval = diff +- z_{(1+confidence)/2} se. Wald is the simple textbook interval; it is too narrow for tiny groups
    or rates near 0 / 1 (then prefer Newcombe's method), which is why reports should wait for a few hundred per group.
    Both arms count people ASSIGNED (treated vs held out) and those who converted in the same window after entering
    the scenario: holdout members get no messages, so touch attribution cannot be used for them. None if an arm is
    empty.
    """
    if treated.trials == 0 or holdout.trials == 0:
        return None
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    pt, ph = treated.successes / treated.trials, holdout.successes / holdout.trials
    se = math.sqrt(pt * (1 - pt) / treated.trials + ph * (1 - ph) / holdout.trials)
    half = _NORMAL.inv_cdf((1 + confidence) / 2) * se
    diff = pt - ph
    return Uplift(pt, ph, diff, diff - half, diff + half, confidence)


def arms_from_counters(counters: Iterable[tuple[str, Counters]]) -> dict[str, Arm]:
    """Conversion arms (conversions of delivered) per variant, for `pick_winner`."""
    arms: dict[str, Counters] = {}
    for variant, value in counters:
        arms[variant] = arms.get(variant, Counters()) + value
    return {variant: Arm(min(c.conversions, c.delivered), c.delivered) for variant, c in arms.items()}


# --------------------------------------------------------------------------------------------------------------------
# Send-time optimisation: did sending at the person's best hour help?
# --------------------------------------------------------------------------------------------------------------------

SEND_TIME_ARMS = ("optimised", "control")


def send_time_comparison(arms: Mapping[str, Counters], channel: str, *, mde: float) -> dict[str, object]:
    """Human opens and clicks per send-time arm (`optimised` at the best hour, `control` sent at once), with the
    optimised-vs-control test of each rate.

    Rates are over `sent`: delivery feedback is not split by arm, and both arms lose the same share to bounces, so
    the comparison is unbiased. Opens are compared only on channels where an open can be seen (email).
    """
    out: dict[str, object] = {
        "arms": {
            name: {
                "sent": c.sent,
                "human_opens": c.human_opens,
                "clicks": c.clicks,
                "human_open_rate": _ratio(c.human_opens, c.sent) if channel in OPEN_CHANNELS else None,
                "click_rate": _ratio(c.clicks, c.sent),
            }
            for name, c in arms.items()
        },
        "comparisons": [],
    }
    optimised, control = arms.get("optimised"), arms.get("control")
    if optimised is None or control is None:
        return out
    metrics = [("human_opens / sent", "human_opens")] if channel in OPEN_CHANNELS else []
    metrics.append(("clicks / sent", "clicks"))
    comparisons = []
    for label, field_name in metrics:
        a = Arm(min(getattr(optimised, field_name), optimised.sent), optimised.sent)
        b = Arm(min(getattr(control, field_name), control.sent), control.sent)
        result = compare_arms(a, b, mde=mde)
        comparisons.append(
            {
                "metric": label,
                "diff": result.test.diff,
                "p_value": result.test.p_value,
                "min_sample_per_arm": result.min_sample,
                "enough_data": result.enough_data,
                "significant": result.significant,
            }
        )
    out["comparisons"] = comparisons
    return out
