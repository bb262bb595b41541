"""Segments at fold time: the named segment definitions and the membership update that records entered/exited."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.profiles.model import Profile, Transition
from chalicelib.rules import Rule, bind_subject, evaluate
from chalicelib.tracking.events import iso

bind_subject(Profile)  # rules read profiles: let them look the always-present parts up as attributes

_STRICT = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)
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
