"""The one condition language: segments, fit rules and scenario conditions, compiled once.

`model` holds the rule models (pydantic, as marketers write them), `operators` the meaning of each operator (the one
home of the comparison semantics), `compile` the compiled predicates, path resolution and the identity cache.
The language knows no wing above it: it reads its subject (a profile) by duck typing.
"""

from chalicelib.rules.compile import (
    Compared,
    IdentityCache,
    Predicate,
    bind_subject,
    compile_rule,
    condition_test,
    evaluate,
    event_count,
    getter,
    path,
    resolve,
)
from chalicelib.rules.model import (
    FIELD_ROOTS,
    MAX_WINDOW_DAYS,
    AllRule,
    AnyRule,
    EventCondition,
    FieldCondition,
    NotRule,
    Op,
    Rule,
)
from chalicelib.rules.operators import Operator, ValueTest, equal, number, order, present, value_test

__all__ = [
    "FIELD_ROOTS",
    "MAX_WINDOW_DAYS",
    "AllRule",
    "AnyRule",
    "Compared",
    "EventCondition",
    "FieldCondition",
    "IdentityCache",
    "NotRule",
    "Op",
    "Operator",
    "Predicate",
    "Rule",
    "ValueTest",
    "bind_subject",
    "compile_rule",
    "condition_test",
    "equal",
    "evaluate",
    "event_count",
    "getter",
    "number",
    "order",
    "path",
    "present",
    "resolve",
    "value_test",
]
