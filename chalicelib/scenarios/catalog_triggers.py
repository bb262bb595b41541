"""Catalog triggers: back in stock, price drop and low stock, for the people who showed interest in the product.

1. `interest_updates` (pure) turns a profile version's new events into interest-index writes: Product Viewed /
   Product Added / Product Added to Wishlist note interest, a verified Order Completed forgets it (a buyer is not
   waiting for the product any more). The scenarios reader calls it (`ScenarioService`), where the events are read
   already: the fold pays nothing, and a batch with no catalog scenario enabled writes nothing. Interest is written
   only for people an enabled catalog scenario could reach (`reachable`: an address on one of its channels, and
   consent for a marketing send, or a channel that needs neither, like in_app); a version that makes someone
   reachable, or merges another profile into a reachable one, brings in what the profile body keeps
   (`interest_backfill`: recent views, open cart lines).
2. `CatalogTriggerService.on_changes` reads the catalog stream: each change that fires an enabled catalog scenario
   becomes one fan-out job on the catalog fan-out queue (a replayed record makes the same job again: harmless).
3. `CatalogTriggerService.fan_out` executes one job page: Query one page of `interest#<product>`, keep who is recent
   enough, alive, in the audience and allowed to re-enter, and start one run per person (key: person + change, so a
   replayed page starts nothing twice). Runs are paced: at most `per_minute` first steps per minute for one change,
   each run due at its minute slot; the first slot goes to the delivery queue now, later ones to delivery's due
   store, which the minute reader releases on time. The next page is the next queue message. Every send then takes
   the normal path (guards, caps, quiet hours, holdout), and the exit condition `fact.bought_product` ends a run whose
   person buys the product before it is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.catalog import InterestIndex, InterestSignal, ProductChange, from_stream_record, reference_price
from chalicelib.profiles import view
from chalicelib.profiles.devices import push_targets
from chalicelib.profiles.ports import ProfileStore
from chalicelib.scenarios.definitions import (
    CUSTOMER_CHANNELS,
    BackInStockTrigger,
    LowStockTrigger,
    PriceDropTrigger,
    Scenario,
    SendStep,
)
from chalicelib.scenarios.engine import ScenarioRun, in_audience, reentry_allowed, start_run
from chalicelib.scenarios.ports import CatalogFanoutQueue, DueSteps, RunStore, StepQueue
from chalicelib.shared.clock import Clock
from chalicelib.tracking.events import TrackedEvent, iso

log = logging.getLogger("one2one")

CatalogTrigger = BackInStockTrigger | LowStockTrigger | PriceDropTrigger
INTEREST_EVENTS = {"Product Viewed": "viewed", "Product Added": "carted", "Product Added to Wishlist": "wishlisted"}
ANYONE = "*"  # a `Route` channel: a catalog scenario without a send step (its runs reach everyone it starts for)
PAGE_SIZE = 100  # one Query page and one BatchGetItem of profiles per queue message
SLOT = timedelta(minutes=1)
_EPSILON = 1e-9


# --------------------------------------------------------------------------------------------------------------------
# Which scenarios a change fires (pure)
# --------------------------------------------------------------------------------------------------------------------


def catalog_scenarios(scenarios: Iterable[Scenario]) -> list[Scenario]:
    return [s for s in scenarios if s.enabled and isinstance(s.when, CatalogTrigger)]


def _price_crossed(when: PriceDropTrigger, reference: float, price: float) -> bool:
    drop = reference - price
    if drop <= 0:
        return False
    if when.percent is not None and drop / reference * 100 < when.percent - _EPSILON:
        return False
    return not (when.amount is not None and drop < when.amount - _EPSILON)


def fires(when: Any, change: ProductChange) -> bool:
    """Whether this catalog write fires a catalog trigger. A new product fires nothing (nobody can have waited)."""
    old, new = change.old, change.new.product
    if old is None or not isinstance(when, CatalogTrigger):
        return False
    if isinstance(when, BackInStockTrigger):
        return not old.product.available and new.available
    if isinstance(when, LowStockTrigger):
        if new.stock is None or not new.available or not 0 < new.stock < when.below:
            return False
        return old.product.stock is None or old.product.stock >= when.below
    if not new.available or old.product.currency != new.currency or new.price >= old.product.price:
        return False
    from chalicelib.scenarios.schedule import parse_duration

    reference = reference_price(change, parse_duration(when.compared_to))
    if reference is None or reference <= 0:
        return False
    # Once per crossing: a further small cut below an already-announced drop is not news.
    return _price_crossed(when, reference, new.price) and not _price_crossed(when, reference, old.product.price)


def trigger_id(scenario: Scenario, change: ProductChange) -> str:
    """One run per person and catalog write: `{scenario}:{type}:{product}:v{version}`."""
    return f"{scenario.id}:{scenario.when.type}:{change.product_id}:v{change.version}"


def run_context(scenario: Scenario, change: ProductChange) -> dict[str, Any]:
    """What the run remembers (templates read `context.*`; `product_id` feeds `fact.bought_product`)."""
    product = change.new.product
    context: dict[str, Any] = {
        "event": scenario.when.type,
        "product_id": product.id,
        "name": product.name,
        "price": product.price,
        "currency": product.currency,
        "version": change.version,
    }
    if change.old is not None and change.old.product.price != product.price:
        context["old_price"] = change.old.product.price
    if isinstance(scenario.when, PriceDropTrigger):
        from chalicelib.scenarios.schedule import parse_duration

        reference = reference_price(change, parse_duration(scenario.when.compared_to))
        if reference is not None:
            context["reference_price"] = reference
    for key in ("stock", "url", "image"):
        if getattr(product, key) is not None:
            context[key] = getattr(product, key)
    return context


# --------------------------------------------------------------------------------------------------------------------
# Interest from events (pure)
# --------------------------------------------------------------------------------------------------------------------


def _aware(value: str | datetime) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def interest_updates(
    events: Iterable[TrackedEvent], kinds: Collection[str] | None = None
) -> tuple[list[InterestSignal], set[str]]:
    """(signals to record, products to forget) from one person's new events, in time order: a purchase after the
    last interest forgets the product; interest after a purchase is interest again. At the same instant the
    purchase counts as later (a view stamped with the order's second is part of buying it). `kinds`: only these
    signs of interest are recorded (the ones an enabled scenario asks for; None: all)."""
    last: dict[str, InterestSignal | None] = {}
    for event in sorted(events, key=lambda e: (e.timestamp, e.event == "Order Completed", e.key)):
        if event.type != "track" or event.is_bot:
            continue
        kind = INTEREST_EVENTS.get(event.event or "")
        if kind is not None and kinds is not None and kind not in kinds:
            continue
        if kind is not None:
            product_id = event.properties.get("product_id")
            if product_id not in (None, ""):
                signal = InterestSignal(str(product_id), kind, _aware(event.timestamp))  # type: ignore[arg-type]
                last[str(product_id)] = signal
        elif event.event == "Order Completed" and not event.unverified:
            products = event.properties.get("products")
            for item in products if isinstance(products, list) else []:
                if isinstance(item, dict) and item.get("product_id") not in (None, ""):
                    last[str(item["product_id"])] = None
    signals = [s for s in last.values() if s is not None]
    return signals, {pid for pid, s in last.items() if s is None}


def interest_kinds(scenarios: Iterable[Scenario]) -> set[str]:
    """The signs of interest the enabled catalog scenarios ask for: only those are written (a shop whose only catalog
    scenario reminds people of what they carted writes nothing per product view). A scenario enabled later, or one
    asking for more, sees interest from then on, as when the first catalog scenario is enabled."""
    triggers = [s.when for s in catalog_scenarios(scenarios) if isinstance(s.when, CatalogTrigger)]
    return {kind for trigger in triggers for kind in trigger.interest}


def interest_retention(scenarios: Iterable[Scenario]) -> timedelta | None:
    """How long interest must be kept: the longest `within` of the enabled catalog scenarios (None: none enabled,
    so nothing is written)."""
    windows = [s.when.window for s in catalog_scenarios(scenarios) if isinstance(s.when, CatalogTrigger)]
    return max(windows) if windows else None


# --------------------------------------------------------------------------------------------------------------------
# Whose interest is worth writing (pure)
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One way an enabled catalog scenario sends: its channel, and for a send to the person's own address whether
    it is marketing (which needs their consent on that channel, and not opting out of the scenario's `topic`)."""

    channel: str
    marketing: bool = False
    topic: str | None = None


def interest_routes(scenarios: Iterable[Scenario]) -> frozenset[Route]:
    """How the enabled catalog scenarios send (`ANYONE` for one without a send step: its runs are for everyone)."""
    routes: set[Route] = set()
    for scenario in catalog_scenarios(scenarios):
        sends = [step for step in scenario.steps if isinstance(step, SendStep)]
        for step in sends:
            marketing = scenario.marketing if step.marketing is None else step.marketing
            if step.channel in CUSTOMER_CHANNELS and marketing:
                routes.add(Route(step.channel, True, scenario.topic))
            else:
                routes.add(Route(step.channel))
        if not sends:
            routes.add(Route(ANYONE))
    return frozenset(routes)


def reachable(profile: Mapping[str, Any], routes: Collection[Route]) -> bool:
    """Whether a catalog scenario sending by `routes` could reach this person (a profile JSON). A channel that needs
    no address of theirs (in_app, webhook, sales_alert) reaches everyone; email, sms and push need the address
    delivery would send to, and a marketing send also the consent: the same rules as delivery's `no_address` and
    `no_consent` guards (opt-in: unknown consent is no). An anonymous visitor, or one who never opted in, is not
    reachable: indexing their interest would cost a write per product and never send anything.

    Example: `reachable({"email": "a@b.example"}, {Route("email")})` is True, `reachable({}, {Route("email")})`
    is False, and so is `reachable({"email": "a@b.example"}, {Route("email", marketing=True)})` without consent.
    """
    for route in routes:
        channel = route.channel
        if channel not in CUSTOMER_CHANNELS:
            return True
        if channel == "email" and view.email_address(profile) is None:
            continue
        if channel == "sms" and view.phone_number(profile) is None:
            continue
        if channel == "push" and not push_targets(profile, marketing=False):
            continue
        if route.marketing and (
            view.consent_status(profile, channel) != "opted_in" or view.topic_opted_out(profile, route.topic)
        ):
            continue
        return True
    return False


def _viewed(body: Mapping[str, Any]) -> dict[str, datetime]:
    computed = body.get("computed")
    views = computed.get("viewed_products") if isinstance(computed, Mapping) else None
    out: dict[str, datetime] = {}
    for entry in views if isinstance(views, list) else ():
        if isinstance(entry, Mapping) and entry.get("product_id") not in (None, "") and entry.get("at"):
            out.setdefault(str(entry["product_id"]), _aware(str(entry["at"])))
    return out


def _activity(body: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    activity = body.get("activity")
    value = activity.get(section) if isinstance(activity, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _carted(body: Mapping[str, Any]) -> dict[str, datetime]:
    """Open cart lines (net quantity above 0) -> their latest add (a removal moves `at`, not `info_at`)."""
    out: dict[str, datetime] = {}
    for product_id, line in _activity(body, "cart").items():
        if not isinstance(line, Mapping) or float(line.get("q") or 0) <= 0:
            continue
        added = line.get("info_at")
        at = added if isinstance(added, int | float) and added >= 0 else line.get("at")
        if isinstance(at, int | float):
            out[str(product_id)] = datetime.fromtimestamp(at, UTC)
    return out


def held_interest(
    profile: Mapping[str, Any], baseline: Mapping[str, Any] | None, kinds: Collection[str], since: datetime
) -> list[InterestSignal]:
    """The signs of interest a profile body keeps itself (`computed.viewed_products`, the open lines of
    `activity.cart`) that `baseline` (an earlier version of it; None: nothing) did not have or had older: only
    `kinds`, from `since` on, and not a product bought at or after that time (the events path forgot it then).
    Wishlists are not kept in the profile: a wishlist made while unreachable is not brought in."""
    purchased = _activity(profile, "purchased")
    sources: list[tuple[str, Callable[[Mapping[str, Any]], dict[str, datetime]]]] = [
        ("viewed", _viewed),
        ("carted", _carted),
    ]
    signals: list[InterestSignal] = []
    for kind, read in sources:
        if kind not in kinds:
            continue
        before = read(baseline) if baseline is not None else {}
        for product_id, at in sorted(read(profile).items()):
            if at < since or (product_id in before and before[product_id] >= at):
                continue
            bought = purchased.get(product_id)
            if isinstance(bought, int | float) and bought >= at.timestamp():
                continue
            signals.append(InterestSignal(product_id, kind, at))  # type: ignore[arg-type]
    return signals


def interest_backfill(
    profile: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    routes: Collection[Route],
    kinds: Collection[str],
    since: datetime,
) -> list[InterestSignal]:
    """What a reachable profile version brings into the interest index beyond its new events: everything its body
    keeps when the previous version (None: there was none) was not reachable, its interest not written then; after a
    merge into an already reachable profile (`merged_from` grew), what the merged-in profile brought. Nothing
    otherwise: the new events' own signals cover the rest. An unreachable profile brings nothing."""
    if not reachable(profile, routes):
        return []
    if previous is not None and reachable(previous, routes):
        if set(profile.get("merged_from") or ()) <= set(previous.get("merged_from") or ()):
            return []
        return held_interest(profile, previous, kinds, since)
    return held_interest(profile, None, kinds, since)


# --------------------------------------------------------------------------------------------------------------------
# The use case
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class FanoutStats:
    interested: int = 0
    started: int = 0
    duplicates: int = 0
    skipped: int = 0
    next_page: bool = False


class CatalogTriggerService:
    def __init__(
        self,
        *,
        interests: InterestIndex,
        profiles: ProfileStore,
        runs: RunStore,
        queue: StepQueue,
        due: DueSteps,
        fanout: CatalogFanoutQueue,
        clock: Clock,
        scenarios: Sequence[Scenario] | Callable[[], Sequence[Scenario]],
        per_minute: int,
        engagement: Any = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.interests = interests
        self.profiles = profiles
        self.runs = runs
        self.queue = queue
        self.due = due
        self.fanout = fanout
        self.clock = clock
        self._scenarios = scenarios
        self.per_minute = max(1, per_minute)
        self.engagement = engagement
        self.page_size = max(1, min(page_size, self.per_minute, 100))
        self.last_stats = FanoutStats()

    @property
    def scenarios(self) -> list[Scenario]:
        if callable(self._scenarios):
            self._scenarios = self._scenarios()
        return list(self._scenarios)

    def on_changes(self, records: Sequence[Mapping[str, Any]]) -> int:
        """Catalog stream records -> fan-out jobs (one per change and fired scenario). Returns the jobs sent."""
        scenarios = catalog_scenarios(self.scenarios)
        if not scenarios:
            return 0
        jobs: list[dict[str, Any]] = []
        for record in records:
            change = from_stream_record(record)
            if change is None:
                continue
            for scenario in scenarios:
                if fires(scenario.when, change):
                    at = change.at or iso(self.clock.now())
                    jobs.append(
                        {
                            "s": scenario.id,
                            "t": trigger_id(scenario, change),
                            "p": change.product_id,
                            "at": at,
                            "ctx": run_context(scenario, change),
                            "c": None,
                            "slot": iso(self.clock.now()),
                            "used": 0,
                        }
                    )
        if jobs:
            self.fanout.send(jobs)
            log.info("catalog: %d change(s) fired %d fan-out job(s)", len(records), len(jobs))
        return len(jobs)

    def fan_out(self, job: Mapping[str, Any]) -> FanoutStats:
        """Start the runs of one page of one job and queue the next page."""
        stats = FanoutStats()
        self.last_stats = stats
        scenario = next((s for s in self.scenarios if s.id == job.get("s")), None)
        if scenario is None or not scenario.enabled or not isinstance(scenario.when, CatalogTrigger):
            log.warning("catalog fan-out: scenario %r is gone or disabled; job dropped", job.get("s"))
            return stats
        when = scenario.when
        now = self.clock.now()
        product_id, run_trigger = str(job["p"]), str(job["t"])
        changed_at = _aware(str(job["at"]))
        since = iso(changed_at - when.window)
        page, cursor = self.interests.interested(product_id, self.page_size, job.get("c"))
        stats.interested = len(page)
        recent = [i for i in page if (i.latest(when.interest) or "") >= since]
        stored = self.profiles.get_many([i.profile_id for i in recent]) if recent else {}
        slot, used = _aware(str(job["slot"])), int(job.get("used") or 0)
        if now >= slot + SLOT:  # that minute is over: this page opens a new one
            slot, used = now, 0
        now_batch: list[dict[str, Any]] = []
        for interest in recent:
            profile = stored.get(interest.profile_id)
            if profile is None or not profile.live:
                stats.skipped += 1
                continue
            document = profile.document()
            document["profile_id"] = interest.profile_id
            if in_audience(scenario, document) is not True:
                stats.skipped += 1
                continue
            history = self.runs.for_profile(interest.profile_id)
            existing = next((r for r in history if r.trigger_id == run_trigger), None)
            if existing is not None:  # a replayed page: re-release a first step a crash may have lost
                stats.duplicates += 1
                if existing.is_active and existing.step_index == 0:
                    self._release(existing, now, now_batch)
                continue
            if not reentry_allowed(scenario, history, now):
                stats.skipped += 1
                continue
            if used >= self.per_minute:
                slot, used = slot + SLOT, 0
            run = start_run(
                scenario, document, run_trigger, now, entered_at=changed_at, context=dict(job.get("ctx") or {})
            )
            run = run.model_copy(update={"due_at": max(slot, now)})
            if self.engagement is not None:  # the run record is the report's assignment: nothing to count
                self.engagement.run_starting(run)
            if not self.runs.create(run):
                stats.duplicates += 1
                continue
            used += 1
            stats.started += 1
            self._release(run, now, now_batch)
        if now_batch:
            self.queue.enqueue(now_batch)
        if cursor is not None:
            stats.next_page = True
            self.fanout.send([{**job, "c": cursor, "slot": iso(slot), "used": used}])
        return stats

    def _release(self, run: ScenarioRun, now: datetime, now_batch: list[dict[str, Any]]) -> None:
        message = {"p": run.profile_id, "t": run.trigger_id, "s": run.step_index}
        if run.due_at <= now:
            now_batch.append(message)
        else:
            self.due.put(run.due_at, f"{run.profile_id}#{run.trigger_id}#{run.step_index}", message)
