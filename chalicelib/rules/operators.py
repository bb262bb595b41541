"""What each operator means for one value: the single home of the rule language's comparison semantics.

Segments, fit rules and scenario conditions all compare through `value_test`, so `state eq "ca"` means the same
everywhere. The semantics (a property test holds all three users to them):

- Strings compare without case: `eq`/`ne`/`in` fold case ("ca" equals "CA"), `contains` on a string is a case-folded
  substring test, and `gt`/`gte`/`lt`/`lte` order two strings by their case-folded text (lexicographic: ISO dates and
  fixed-width postal codes order correctly; "10" < "9" as strings).
- Numbers compare numerically; a numeric string is read as a number when the other side is a number ("5" eq 5).
- A boolean equals only a boolean (a marketer writing `value: 1` does not mean "true") and is never ordered.
- `in`: the value (or, for a list value, any of its items) equals one of the options.
- `contains`: a string holds the substring; a list holds an item equal to the operand; a map has the operand as key
  (exactly: keys are ids).
- `exists`: the value is present, i.e. not missing, not "", not [] and not {} (`exists: false` is the opposite).
- A missing value (None) makes every operator False except the negative ones (`ne`, `not_in`, `not_contains`,
  `not_exists`, `exists: false`), which are exactly `not` their positive operator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

Operator = Literal[
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "not_contains", "exists", "not_exists"
]
ValueTest = Callable[[Any], bool]
"""A compiled operator with its operand: `value -> bool`."""

_ORDER_TESTS: dict[str, Callable[[int], bool]] = {
    "gt": lambda order: order > 0,
    "gte": lambda order: order >= 0,
    "lt": lambda order: order < 0,
    "lte": lambda order: order <= 0,
}
_NEGATIONS = {"ne": "eq", "not_in": "in", "not_contains": "contains"}


def number(value: Any) -> float | None:
    """A float from an int, a float or a numeric string; None otherwise (a bool is not a number)."""
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


def equal(left: Any, right: Any) -> bool:
    """`eq` for two present values."""
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, (int, float)) or isinstance(right, (int, float)):
        a, b = number(left), number(right)
        if a is not None and b is not None:
            return a == b
    return bool(left == right)


def order(left: Any, right: Any) -> int | None:
    """-1/0/1 for `left` against `right`, or None when the two cannot be ordered."""
    if left is None or isinstance(left, bool) or isinstance(right, bool):
        return None
    if isinstance(left, str) and isinstance(right, str):
        a: Any = left.casefold()
        b: Any = right.casefold()
    else:
        a, b = number(left), number(right)
        if a is None or b is None:
            return None
    return int(a > b) - int(a < b)


def present(value: Any) -> bool:
    """What `exists` tests: neither missing nor empty."""
    return value is not None and value != "" and value != [] and value != {}


def _equals(operand: Any) -> ValueTest:
    """`value -> equal(value, operand)` for a present value, with a string operand case-folded once."""
    if isinstance(operand, str):
        folded = operand.casefold()
        return lambda value: value.casefold() == folded if isinstance(value, str) else equal(value, operand)
    return lambda value: equal(value, operand)


def value_test(op: str, operand: Any) -> ValueTest:
    """The operator `op` with its `operand` prepared once (case folded, options hashed): `value -> bool`.

    Parameters
    ----------
    op: one of `Operator`.
    operand: the condition's value (a list for `in`/`not_in`; true/false/None for `exists`).

    Returns
    -------
    A function of the value found at the condition's field (None when missing).

    Example
    -------
    >>> value_test("eq", "ca")("CA")
    True
    """
    if op in _NEGATIONS:
        positive = value_test(_NEGATIONS[op], operand)
        return lambda value: not positive(value)
    if op in ("exists", "not_exists"):
        wanted = (operand is not False) == (op == "exists")
        return lambda value: present(value) == wanted
    if op == "eq":
        equals = _equals(operand)
        return lambda value: value is not None and equals(value)
    if op == "in":
        return _is_in(operand if isinstance(operand, list) else [operand])
    if op == "contains":
        return _contains(operand)
    if op in _ORDER_TESTS:
        return _ordered(_ORDER_TESTS[op], operand)
    raise ValueError(f"unknown operator {op!r}")


def _is_in(options: list[Any]) -> ValueTest:
    tests = [_equals(option) for option in options]
    strings = frozenset(option.casefold() for option in options if isinstance(option, str))
    only_strings = len(strings) > 0 and all(isinstance(option, str) for option in options)

    def is_in(value: Any) -> bool:
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


def _contains(operand: Any) -> ValueTest:
    equals = _equals(operand)
    needle = operand.casefold() if isinstance(operand, str) else None
    hashable = operand is None or isinstance(operand, (str, int, float, bool))

    def contains(value: Any) -> bool:
        if isinstance(value, str):
            return needle is not None and needle in value.casefold()
        if isinstance(value, list):
            return any(equals(item) for item in value if item is not None)
        if isinstance(value, dict):
            return hashable and operand in value
        return False

    return contains


def _ordered(accept: Callable[[int], bool], operand: Any) -> ValueTest:
    if operand.__class__ in (int, float):  # the usual numeric bound: numbers compared without `order`'s checks
        bound = float(operand)

        def ordered_number(value: Any) -> bool:
            if value.__class__ is float or value.__class__ is int:
                value = float(value)
                return accept((value > bound) - (value < bound))
            if value is None:
                return False
            result = order(value, operand)
            return result is not None and accept(result)

        return ordered_number

    def ordered(value: Any) -> bool:
        if value is None:
            return False
        result = order(value, operand)
        return result is not None and accept(result)

    return ordered
