"""Segments as data: a small rule language over a profile (all/any/not, field conditions, event-window conditions)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import Struct
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from chalicelib.profiles.model import Profile, Transition
from chalicelib.tracking.events import iso

if TYPE_CHECKING:
    from collections.abc import Iterable

Op = Literal["eq", "ne", "in", "gt", "gte", "lt", "lte", "exists", "contains"]

# Roots a field path may start with: the readable parts of a profile. Internal bookkeeping (`activity`, `applied`)
# is deliberately not addressable so that rules never depend on its compact, changeable layout.
FIELD_ROOTS = frozenset(
    {
        "traits",
        "demographics",
        "computed",
        "scores",
        "stage",
        "stage_since",
        "rfm",
        "consent",
        "segments",
        "needs_group",
        "group_value_percentile",
        "email",
        "user_id",
        "phone",
        "anonymous_ids",
        "bot_events",
    }
)
MAX_WINDOW_DAYS = 90  # the profile keeps per-event daily counts this long (see traits.DAILY_RETENTION_DAYS)
_STRICT = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class FieldCondition(BaseModel):
    """Compare the value at a dotted path of the profile (e.g. `demographics.state`) with `value`.

    String comparisons for eq/ne/in/contains ignore case (marketers type "ca", data says "CA"). gt/gte/lt/lte compare
    numbers numerically (a numeric string is read as a number when the other side is a number) and strings
    lexicographically, which also orders ISO dates and 5-digit postal codes. A missing value makes every op False
    except `ne` (True) and `exists: false` (True).
    """

    model_config = _STRICT

    field: str = Field(
        description="Dotted path into the profile, e.g. traits.plan, computed.orders, consent.email.status"
    )
    op: Op
    value: Any = Field(default=None, description="Operand; a list for `in`; for `exists` true (default) or false")

    @field_validator("field")
    @classmethod
    def _known_root(cls, path: str) -> str:
        parts = path.split(".")
        if any(not p for p in parts):
            raise ValueError(f"empty segment in field path {path!r}")
        if parts[0] not in FIELD_ROOTS:
            raise ValueError(f"unknown field root {parts[0]!r}; expected one of {', '.join(sorted(FIELD_ROOTS))}")
        return path

    @model_validator(mode="after")
    def _operand_fits_op(self) -> FieldCondition:
        if self.op == "in" and not isinstance(self.value, list):
            raise ValueError("op 'in' needs a list value")
        if self.op == "exists" and self.value is not None and not isinstance(self.value, bool):
            raise ValueError("op 'exists' takes true/false (or no value)")
        if self.op in ("gt", "gte", "lt", "lte") and (isinstance(self.value, bool) or not _scalar(self.value)):
            raise ValueError(f"op {self.op!r} needs a number or a string value")
        if self.op in ("eq", "ne", "contains") and self.value is None:
            raise ValueError(f"op {self.op!r} needs a value (use 'exists' to test for presence)")
        return self


class EventCondition(BaseModel):
    """ "Did event X at least `min_count` (and at most `max_count`) times in the last `within_days` days".

    Days are UTC calendar days including today: `within_days: 1` means today, 7 means today and the 6 days before.
    Counts come from the profile's per-event daily counts, which bots never feed.
    """

    model_config = _STRICT

    event: str = Field(min_length=1, description="Event name, e.g. 'Product Added'; page calls are 'Page Viewed'")
    min_count: int = Field(default=1, ge=0)
    max_count: int | None = Field(default=None, ge=0)
    within_days: int = Field(ge=1, le=MAX_WINDOW_DAYS)

    @model_validator(mode="after")
    def _bounds(self) -> EventCondition:
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError("max_count must be >= min_count")
        return self


class AllRule(BaseModel):
    """True when every sub-rule is true."""

    model_config = _STRICT
    all: list[Rule] = Field(min_length=1)


class AnyRule(BaseModel):
    """True when at least one sub-rule is true."""

    model_config = _STRICT
    any: list[Rule] = Field(min_length=1)


class NotRule(BaseModel):
    """True when the sub-rule is false."""

    model_config = _STRICT
    not_: Rule = Field(alias="not")


def _rule_tag(value: Any) -> str | None:
    # Tags are wrapped in <> so that error paths can drop them (see profile_config._format_loc).
    if isinstance(value, dict):
        for key in ("all", "any", "not", "event", "field"):
            if key in value:
                return f"<{key}>"
        return None
    return _TAG_BY_CLASS.get(type(value))


Rule = Annotated[
    Annotated[AllRule, Tag("<all>")]
    | Annotated[AnyRule, Tag("<any>")]
    | Annotated[NotRule, Tag("<not>")]
    | Annotated[EventCondition, Tag("<event>")]
    | Annotated[FieldCondition, Tag("<field>")],
    Discriminator(
        _rule_tag,
        custom_error_type="invalid_rule",
        custom_error_message="a rule is an object with one of the keys all, any, not, event, field",
    ),
]
_TAG_BY_CLASS: dict[type, str] = {
    AllRule: "<all>",
    AnyRule: "<any>",
    NotRule: "<not>",
    EventCondition: "<event>",
    FieldCondition: "<field>",
}
AllRule.model_rebuild()
AnyRule.model_rebuild()
NotRule.model_rebuild()

_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


class SegmentDef(BaseModel):
    """One named segment. Membership is re-evaluated on every fold and on the lifecycle sweep."""

    model_config = _STRICT

    name: str = Field(description="Stable id: lower-case letters, digits, '_' or '-'")
    description: str = ""
    enabled: bool = True
    rule: Rule

    @field_validator("name")
    @classmethod
    def _slug(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("segment name must match ^[a-z0-9][a-z0-9_-]{0,63}$")
        return name


# --- evaluation ---------------------------------------------------------------------------------------------------


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float))


def _step(current: Any, part: str) -> Any:
    """One step of `resolve`."""
    if current.__class__ is dict:
        return current.get(part)
    if current is None:
        return None
    if isinstance(current, (Struct, BaseModel)):
        return getattr(current, part, None)
    if isinstance(current, dict):
        return current.get(part)
    return None


def resolve(profile: Any, parts: Iterable[str]) -> Any:
    """The value at a path of a profile (models via attributes, dicts via keys); None when any step is missing."""
    current = profile
    for part in parts:
        current = _step(current, part)
    return current


@functools.lru_cache(maxsize=1024)
def _path(field: str) -> tuple[str, ...]:
    return tuple(field.split("."))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _eq(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if isinstance(left, (int, float)) and not isinstance(left, bool) or isinstance(right, (int, float)):
        a, b = _number(left), _number(right)
        if a is not None and b is not None:
            return a == b
    return left == right


def _compare(left: Any, right: Any) -> int | None:
    """-1/0/1, or None when the two cannot be ordered."""
    if isinstance(left, bool) or left is None:
        return None
    if isinstance(left, str) and isinstance(right, str):
        a_num, b_num = None, None  # both strings: lexicographic (ISO dates, postal codes)
        a, b = left, right
    else:
        a_num, b_num = _number(left), _number(right)
        if a_num is None or b_num is None:
            return None
        a, b = a_num, b_num
    return (a > b) - (a < b)


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


@functools.lru_cache(maxsize=512)
def _window(today: date, within_days: int) -> tuple[str, str, tuple[str, ...]]:
    days = tuple((today - timedelta(days=n)).isoformat() for n in range(within_days))
    return days[-1], days[0], days


def event_count(profile: Profile, event: str, within_days: int, now: datetime) -> int:
    """How many times `event` happened in the last `within_days` UTC days (today included)."""
    days = profile.activity.daily.get(event)
    if not days:
        return 0
    first_day, today, window = _window(now.date(), within_days)
    if within_days < len(days):  # a short window: look its days up rather than scan every kept day
        return sum([days.get(day, 0) for day in window])
    # ISO dates compare as strings; future-dated days (clock skew) are not "in the last N days".
    return sum([count for day, count in days.items() if first_day <= day <= today])


def evaluate(rule: Any, profile: Profile, now: datetime) -> bool:
    """Whether `profile` matches `rule` (a SegmentDef or any rule node) at time `now`.

    Example:
        >>> evaluate(segment_def, profile, datetime.now(timezone.utc))  # doctest: +SKIP
    """
    return compile_rule(rule)(profile, now)


# --- compilation --------------------------------------------------------------------------------------------------
# Every fold evaluates every segment and fit rule, so each rule is turned once into a tree of closures with its path
# split, its operator chosen and its operands case-folded (an `in` over strings becomes a set lookup). The closures
# implement exactly the semantics documented on `FieldCondition` and `EventCondition` (a property test checks them
# against a plain interpreter of those rules).

Predicate = Callable[[Any, "datetime | None"], bool]


class IdentityCache:
    """Values derived once from configuration objects (rules, scoring configs), cached by the object's identity.

    Configuration is not changed after validation, and pydantic models are neither hashable nor weak-referenceable,
    so the key is `id(obj)`; the object is kept beside its value so an id cannot be reused while it is cached.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._entries: dict[int, tuple[Any, Any]] = {}

    def get(self, key: Any, build: Callable[[Any], Any]) -> Any:
        cached = self._entries.get(id(key))
        if cached is not None and cached[0] is key:
            return cached[1]
        value = build(key)
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[id(key)] = (key, value)
        return value


_COMPILED = IdentityCache(limit=4096)


def compile_rule(rule: Any) -> Predicate:
    """The predicate `(profile, now) -> bool` of a rule node or SegmentDef, built once per rule object."""
    return _COMPILED.get(rule, _compile_node)


def _compile_node(rule: Any) -> Predicate:
    return _compile(rule.rule if isinstance(rule, SegmentDef) else rule)


def _compile(rule: Any) -> Predicate:
    if isinstance(rule, FieldCondition):
        return _compile_field(rule)
    if isinstance(rule, AllRule):
        subs = [compile_rule(sub) for sub in rule.all]

        def all_of(profile: Any, now: datetime | None) -> bool:
            for sub in subs:  # noqa: SIM110 - a plain loop: no generator object per call on the fold's hot path
                if not sub(profile, now):
                    return False
            return True

        return all_of
    if isinstance(rule, AnyRule):
        options = [compile_rule(sub) for sub in rule.any]

        def any_of(profile: Any, now: datetime | None) -> bool:
            for option in options:  # noqa: SIM110 - as above
                if option(profile, now):
                    return True
            return False

        return any_of
    if isinstance(rule, NotRule):
        inner = compile_rule(rule.not_)
        return lambda profile, now: not inner(profile, now)
    if isinstance(rule, EventCondition):
        event, within, low, high = rule.event, rule.within_days, rule.min_count, rule.max_count

        def did(profile: Any, now: datetime | None) -> bool:
            count = event_count(profile, event, within, now)  # type: ignore[arg-type]
            return count >= low and (high is None or count <= high)

        return did
    raise TypeError(f"not a rule: {type(rule).__name__}")


def _attribute_steps(path: tuple[str, ...]) -> int:
    """How many leading steps of `path` every Profile has as attributes: fields (or lazily decoded properties) of
    the profile and of the structs it always holds (`demographics`, `computed`, ...; not an optional `rfm`)."""
    owner: Any = Profile
    steps = 0
    for part in path:
        if owner is None:
            break
        types = {f.name: f.type for f in msgspec.structs.fields(owner)}
        if part in types:
            kind = types[part]
            owner = kind if isinstance(kind, type) and issubclass(kind, Struct) else None
        elif isinstance(getattr(owner, part, None), property):
            owner = None
        else:
            break
        steps += 1
    return steps


def _getter(path: tuple[str, ...]) -> Callable[[Any], Any]:
    # The steps every profile has are one C attribute lookup (`stage`, `demographics.state`, `computed.orders`); the
    # rest (keys of `traits`, an optional part) step as `resolve` does.
    known = _attribute_steps(path)
    if known:
        head, rest = attrgetter(".".join(path[:known])), path[known:]
        if not rest:
            return head
        if len(rest) == 1:
            (last,) = rest
            return lambda profile: _step(head(profile), last)
        return lambda profile: resolve(head(profile), rest)
    return lambda profile: resolve(profile, path)  # validated rules always start at a profile field


def _equals(operand: Any) -> Callable[[Any], bool]:
    """`value -> _eq(value, operand)`, with the operand case-folded once when it is a string."""
    if isinstance(operand, str):
        folded = operand.casefold()
        return lambda value: value.casefold() == folded if isinstance(value, str) else _eq(value, operand)
    return lambda value: _eq(value, operand)


def _compile_field(cond: FieldCondition) -> Predicate:
    get = _getter(_path(cond.field))
    op, operand = cond.op, cond.value
    if op == "exists":
        wanted = True if operand is None else operand
        return lambda profile, now: _present(get(profile)) == wanted
    if op in ("eq", "ne"):
        equals = _equals(operand)
        if op == "eq":
            return lambda profile, now: (value := get(profile)) is not None and equals(value)
        return lambda profile, now: not ((value := get(profile)) is not None and equals(value))
    if op == "in":
        tests = [_equals(option) for option in operand]
        strings = frozenset(option.casefold() for option in operand if isinstance(option, str))
        only_strings = len(strings) > 0 and all(isinstance(option, str) for option in operand)

        def is_in(profile: Any, now: datetime | None) -> bool:
            value = get(profile)
            if value is None:
                return False
            for item in value if isinstance(value, list) else (value,):
                if only_strings and isinstance(item, str):
                    if item.casefold() in strings:
                        return True
                elif any(test(item) for test in tests):
                    return True
            return False

        return is_in
    if op == "contains":
        equals = _equals(operand)
        needle = operand.casefold() if isinstance(operand, str) else None

        def contains(profile: Any, now: datetime | None) -> bool:
            value = get(profile)
            if isinstance(value, str):
                return needle is not None and needle in value.casefold()
            if isinstance(value, list):
                return any(equals(item) for item in value)
            if isinstance(value, dict):
                return operand in value
            return False

        return contains
    accept = _ORDER_TESTS[op]
    if operand.__class__ in (int, float):  # the usual numeric bound: numbers compared without `_compare`'s checks
        bound = float(operand)

        def ordered_number(profile: Any, now: datetime | None) -> bool:
            value = get(profile)
            if value.__class__ is float or value.__class__ is int:
                value = float(value)
                return accept((value > bound) - (value < bound))
            if value is None:
                return False
            order = _compare(value, operand)
            return order is not None and accept(order)

        return ordered_number

    def ordered(profile: Any, now: datetime | None) -> bool:
        value = get(profile)
        if value is None:
            return False
        order = _compare(value, operand)
        return order is not None and accept(order)

    return ordered


_ORDER_TESTS: dict[str, Callable[[int], bool]] = {
    "gt": lambda order: order > 0,
    "gte": lambda order: order >= 0,
    "lt": lambda order: order < 0,
    "lte": lambda order: order <= 0,
}


def update_memberships(profile: Profile, segments: Iterable[SegmentDef], now: datetime) -> list[Transition]:
    """Re-evaluate every enabled segment, update `profile.segments` in place and return entered/exited transitions.

    Segments are evaluated in their configured order and each sees the memberships decided before it, so a rule may
    refer to an earlier segment (`{"field": "segments", "op": "contains", "value": "vip"}`). Memberships of segments
    that are no longer configured (or disabled) are dropped and reported as exits.
    """
    before = list(profile.segments)
    visible = set(before)  # what a rule reading `segments` sees: decided so far, else the previous membership
    members: list[str] = []
    for segment in segments:
        if not segment.enabled:
            continue
        is_member = evaluate(segment.rule, profile, now)
        if is_member:
            members.append(segment.name)
        if is_member != (segment.name in visible):  # later rules must see this decision
            if is_member:
                visible.add(segment.name)
            else:
                visible.discard(segment.name)
            profile.segments = sorted(visible)
    members.sort()
    profile.segments = members
    if members == before:
        return []
    at = iso(now)
    transitions = [
        Transition(kind="segment_exited", name=name, from_="in", to="out", at=at)
        for name in before
        if name not in members
    ]
    transitions += [
        Transition(kind="segment_entered", name=name, from_="out", to="in", at=at)
        for name in members
        if name not in before
    ]
    return transitions
