"""Rules compiled once into closures: path resolution, the rule tree, event windows and an identity cache.

Every fold evaluates every segment and fit rule, so each rule is turned once into a tree of closures with its path
split, its operator chosen and its operand prepared (`operators.value_test`). A property test checks the closures
against a plain interpreter of the rules, and the segment, scenario and fit users against one another.

The language reads its subject (a profile) by duck typing: it never imports the profile model, which sits in a
higher wing. `bind_subject` tells it the subject's msgspec type, so the steps every subject has as attributes
(`demographics.state`, `computed.orders`) become one C attribute lookup.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import Any, Protocol

import msgspec
from msgspec import Struct
from pydantic import BaseModel

from chalicelib.rules.model import AllRule, AnyRule, EventCondition, FieldCondition, NotRule
from chalicelib.rules.operators import ValueTest, value_test

Predicate = Callable[[Any, "datetime | None"], bool]
"""A compiled rule: `(subject, now) -> bool` (`now` is only read by event-window conditions)."""


class Compared(Protocol):
    """Anything with an operator and an operand: a segment `FieldCondition`, a fit rule, a scenario `Condition`."""

    @property
    def op(self) -> str: ...

    @property
    def value(self) -> Any: ...


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

    def clear(self) -> None:
        self._entries.clear()


_COMPILED = IdentityCache(limit=4096)
_TESTS = IdentityCache(limit=4096)
_subject: type | None = None


def bind_subject(kind: type) -> None:
    """Declare the msgspec Struct type rules are evaluated on (the profile wing calls this with `Profile`).

    Only speed depends on it: paths are resolved the same way with or without it."""
    global _subject
    if kind is not _subject:
        _subject = kind
        _COMPILED.clear()


# --- resolution ---------------------------------------------------------------------------------------------------


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


def resolve(subject: Any, parts: Iterable[str]) -> Any:
    """The value at a path of a subject (models via attributes, dicts via keys); None when any step is missing."""
    current = subject
    for part in parts:
        current = _step(current, part)
    return current


@functools.lru_cache(maxsize=1024)
def path(field: str) -> tuple[str, ...]:
    """A dotted field path split once."""
    return tuple(field.split("."))


def _attribute_steps(parts: tuple[str, ...]) -> int:
    """How many leading steps of `parts` every subject has as attributes: fields (or lazily decoded properties) of
    the subject and of the structs it always holds (`demographics`, `computed`, ...; not an optional `rfm`)."""
    owner: Any = _subject
    steps = 0
    for part in parts:
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


def getter(parts: tuple[str, ...]) -> Callable[[Any], Any]:
    """`subject -> value at parts`, as `resolve` reads it."""
    # The steps every subject has are one C attribute lookup (`stage`, `demographics.state`, `computed.orders`); the
    # rest (keys of `traits`, an optional part) step as `resolve` does.
    known = _attribute_steps(parts)
    if known:
        head, rest = attrgetter(".".join(parts[:known])), parts[known:]
        if not rest:
            return head
        if len(rest) == 1:
            (last,) = rest
            return lambda subject: _step(head(subject), last)
        return lambda subject: resolve(head(subject), rest)
    return lambda subject: resolve(subject, parts)


# --- event windows ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _window(today: date, within_days: int) -> tuple[str, str, tuple[str, ...]]:
    days = tuple((today - timedelta(days=n)).isoformat() for n in range(within_days))
    return days[-1], days[0], days


def event_count(subject: Any, event: str, within_days: int, now: datetime) -> int:
    """How many times `event` happened in the last `within_days` UTC days (today included), read from the subject's
    per-event daily counts (`subject.activity.daily[event][iso day]`)."""
    days = subject.activity.daily.get(event)
    if not days:
        return 0
    first_day, today, window = _window(now.date(), within_days)
    if within_days < len(days):  # a short window: look its days up rather than scan every kept day
        return sum([days.get(day, 0) for day in window])
    # ISO dates compare as strings; future-dated days (clock skew) are not "in the last N days".
    return sum([count for day, count in days.items() if first_day <= day <= today])


# --- compilation --------------------------------------------------------------------------------------------------


def condition_test(condition: Compared) -> ValueTest:
    """The compiled operator of one condition (`value -> bool`), built once per condition object.

    Scenario conditions resolve their field against their own roots (profile, event, context, fact) and then
    compare through this, so every user of the language shares one meaning of each operator."""
    return _TESTS.get(condition, _build_test)


def _build_test(condition: Compared) -> ValueTest:
    return value_test(condition.op, condition.value)


def compile_rule(rule: Any) -> Predicate:
    """The predicate `(subject, now) -> bool` of a rule node (or of anything with a `.rule`, e.g. a segment),
    built once per rule object.

    Example:
        >>> in_california = compile_rule(FieldCondition(field="demographics.state", op="eq", value="ca"))
        >>> in_california(profile, None)  # doctest: +SKIP
    """
    return _COMPILED.get(rule, _compile_node)


def evaluate(rule: Any, subject: Any, now: datetime) -> bool:
    """Whether `subject` matches `rule` (a rule node, or anything with a `.rule`) at time `now`."""
    return compile_rule(rule)(subject, now)


def _compile_node(rule: Any) -> Predicate:
    inner = getattr(rule, "rule", None)
    return _compile(inner if isinstance(inner, BaseModel) else rule)


def _compile(rule: Any) -> Predicate:
    if isinstance(rule, FieldCondition):
        get, test = getter(path(rule.field)), condition_test(rule)
        return lambda subject, now: test(get(subject))
    if isinstance(rule, AllRule):
        subs = [compile_rule(sub) for sub in rule.all]

        def all_of(subject: Any, now: datetime | None) -> bool:
            for sub in subs:  # noqa: SIM110 - a plain loop: no generator object per call on the fold's hot path
                if not sub(subject, now):
                    return False
            return True

        return all_of
    if isinstance(rule, AnyRule):
        options = [compile_rule(sub) for sub in rule.any]

        def any_of(subject: Any, now: datetime | None) -> bool:
            for option in options:  # noqa: SIM110 - as above
                if option(subject, now):
                    return True
            return False

        return any_of
    if isinstance(rule, NotRule):
        negated = compile_rule(rule.not_)
        return lambda subject, now: not negated(subject, now)
    if isinstance(rule, EventCondition):
        event, within, low, high = rule.event, rule.within_days, rule.min_count, rule.max_count

        def did(subject: Any, now: datetime | None) -> bool:
            count = event_count(subject, event, within, now)  # type: ignore[arg-type]
            return count >= low and (high is None or count <= high)

        return did
    raise TypeError(f"not a rule: {type(rule).__name__}")
