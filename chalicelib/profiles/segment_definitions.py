"""Segments as run-time definitions: packaged bodies, the validator the admin API uses, the fold's effective list."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from chalicelib.definitions.effective import Effective
from chalicelib.definitions.exceptions import DefinitionInvalid
from chalicelib.profiles.config import CONFIG_DIR, _find_file, _format_loc, _read
from chalicelib.profiles.segmentation import SegmentDef

log = logging.getLogger("one2one")


def packaged_segment_bodies() -> dict[str, dict[str, Any]]:
    """The segments of the packaged `segments.json` as JSON objects, by name, in file order."""
    data = _read(_find_file(CONFIG_DIR, "segments"))
    return {s["name"]: s for s in data.get("segments", []) if isinstance(s, dict) and "name" in s}


def parse_segment(body: dict[str, Any]) -> SegmentDef:
    """Validate one segment body (the same model as `segments.json`). Raises DefinitionInvalid naming the path."""
    try:
        return SegmentDef.model_validate(body)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise DefinitionInvalid(_format_loc(tuple(err["loc"])), err["msg"].removeprefix("Value error, ")) from None


def validate_segment(definition_id: str, body: dict[str, Any]) -> None:
    parse_segment(body)


def build_segments(effective: list[Effective]) -> list[SegmentDef]:
    """The fold's segments, in evaluation order; a disabled definition stays listed, disabled (its members exit).

    A stored body that no longer parses (a model change since it was saved) is left out and logged, not fatal: the
    fold must keep running on the others."""
    out: list[SegmentDef] = []
    for item in effective:
        try:
            segment = parse_segment(item.body)
        except DefinitionInvalid as exc:
            log.error("definitions: segment %s v%s unusable: %s", item.id, item.version, exc)
            continue
        if not item.enabled and segment.enabled:
            segment = segment.model_copy(update={"enabled": False})
        out.append(segment)
    return out
