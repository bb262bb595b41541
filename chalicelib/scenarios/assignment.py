"""Deterministic holdout and A/B assignment: sha256 of (scenario id, profile id), stable across runs and machines.

Holdout and variant use independent hashes (different labels), so changing a scenario's holdout percent never moves a
person who stays in the treated group to another variant, and the variant mix inside the treated group is unbiased.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

_SCALE = float(2**64)


class Weighted(Protocol):
    """Anything with an `id` and a `weight` (e.g. scenarios.Variant)."""

    @property
    def id(self) -> str: ...

    @property
    def weight(self) -> float: ...


def bucket(*parts: str) -> float:
    """A uniform number in [0, 1) from the sha256 of the parts (joined with a separator that ids cannot contain).

    Example: `bucket("cart_abandonment", "p_123", "holdout")` is the same on every run and every Lambda."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_holdout(scenario_id: str, profile_id: str, holdout_percent: float) -> bool:
    """True when the profile belongs to the scenario's holdout (control) group of `holdout_percent` %."""
    if holdout_percent <= 0:
        return False
    return bucket(scenario_id, profile_id, "holdout") * 100 < holdout_percent


def pick_weighted(u: float, options: Sequence[Weighted]) -> str:
    """The id of the option whose cumulative-weight slice contains u in [0, 1). Options keep their order."""
    if not options:
        raise ValueError("no options to choose from")
    total = sum(max(float(o.weight), 0.0) for o in options)
    if total <= 0:
        return options[0].id
    threshold = u * total
    running = 0.0
    for option in options:
        running += max(float(option.weight), 0.0)
        if threshold < running:
            return option.id
    return options[-1].id  # float rounding at the very top of the range


def choose_variant(scenario_id: str, profile_id: str, variants: Sequence[Weighted]) -> str:
    """The variant id for this profile, weighted and deterministic.

    Every send step of a scenario uses the same hash, so steps with the same variant ids and weights give a person the
    same arm throughout the journey."""
    return pick_weighted(bucket(scenario_id, profile_id, "variant"), variants)


@dataclass(frozen=True)
class Assignment:
    """The outcome for one (scenario, profile): in the holdout, or treated with `variant` (None: nothing to test)."""

    holdout: bool
    variant: str | None


def assign(scenario_id: str, profile_id: str, holdout_percent: float, variants: Sequence[Weighted] = ()) -> Assignment:
    """Holdout first, then weighted variant for everyone else.

    Example:
        >>> a = assign("welcome", "p_1", 10, [])
        >>> a == assign("welcome", "p_1", 10, [])
        True
    """
    if in_holdout(scenario_id, profile_id, holdout_percent):
        return Assignment(holdout=True, variant=None)
    return Assignment(holdout=False, variant=choose_variant(scenario_id, profile_id, variants) if variants else None)
