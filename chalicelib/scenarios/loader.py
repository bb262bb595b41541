"""Scenario files: parse and validate them, check what they name (segments, templates), load the packaged ones."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chalicelib.scenarios.definitions import Condition, Scenario, SegmentTrigger, SendStep, SplitStep
from chalicelib.scenarios.exceptions import ScenarioConfigError

PACKAGED_DIR = Path(__file__).resolve().parent.parent / "config" / "scenarios"
SCENARIO_SUFFIXES = (".json", ".yaml", ".yml")


def _loc_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate one scenario object. Raises ScenarioConfigError(source, field path, message) on the first error."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        message = err["msg"].removeprefix("Value error, ")
        raise ScenarioConfigError(source, _loc_path(err["loc"]), message) from None


def _conditions_segments(conditions: Iterable[Condition]) -> Iterable[tuple[str, str]]:
    # Conditions like `profile.segments contains X` name a segment too; check them so a typo does not silently
    # make a split always-false.
    for n, c in enumerate(conditions):
        if c.field == "profile.segments" and c.op in ("contains", "not_contains") and isinstance(c.value, str):
            yield f"[{n}].value", c.value


def check_references(
    scenario: Scenario,
    source: str,
    known_segments: Collection[str],
    known_templates: Collection[str],
    template_channels: Mapping[str, Collection[str]] | None = None,
) -> None:
    """Raise ScenarioConfigError when the scenario names a segment or template that does not exist, or (when
    `template_channels` maps template id -> channels it has a body for) a template lacking the step's channel."""

    def fail(path: str, message: str) -> None:
        raise ScenarioConfigError(source, path, message)

    if scenario.who and scenario.who.segment is not None and scenario.who.segment not in known_segments:
        fail("who.segment", f"unknown segment {scenario.who.segment!r}")
    when = scenario.when
    if isinstance(when, SegmentTrigger) and when.segment not in known_segments:
        fail(f"when.{when.type}.segment", f"unknown segment {when.segment!r}")
    for n, ex in enumerate(scenario.exit):
        if ex.left_segment is not None and ex.left_segment not in known_segments:
            fail(f"exit[{n}].left_segment", f"unknown segment {ex.left_segment!r}")
        for sub, seg in _conditions_segments(ex.profile or []):
            if seg not in known_segments:
                fail(f"exit[{n}].profile{sub}", f"unknown segment {seg!r}")
    for i, step in enumerate(scenario.steps):
        if isinstance(step, SplitStep):
            for sub, seg in _conditions_segments(step.conditions):
                if seg not in known_segments:
                    fail(f"steps[{i}].split.conditions{sub}", f"unknown segment {seg!r}")
        if not isinstance(step, SendStep):
            continue
        targets = (
            [(f"steps[{i}].send.template", step.template)]
            if step.template
            else [(f"steps[{i}].send.variants[{j}].template", v.template) for j, v in enumerate(step.variants)]
        )
        for path, template in targets:
            if template not in known_templates:
                fail(path, f"unknown template {template!r}")
            if template_channels is not None:
                have = template_channels.get(template, ())
                if step.channel not in have:
                    fail(path, f"template {template!r} has no {step.channel} body (has: {', '.join(sorted(have))})")


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioConfigError(path.name, f"line {exc.lineno}", f"invalid JSON: {exc.msg}") from None
    import yaml  # lazy: only when someone ships YAML scenarios

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioConfigError(path.name, "", f"invalid YAML: {exc}") from None


def load_scenarios(
    directory: str | Path,
    known_segments: Collection[str],
    known_templates: Collection[str],
    *,
    template_channels: Mapping[str, Collection[str]] | None = None,
) -> list[Scenario]:
    """Load and validate every `*.json` / `*.yaml` scenario in `directory` (sorted by file name).

    Parameters
    ----------
    directory: folder of scenario files (one scenario per file).
    known_segments: ids of defined segments; `who`, segment triggers and `left_segment` must name one.
    known_templates: ids in the template catalogue; every send template must name one.
    template_channels: optional template id -> channels with a body, to also check channel/template fit.

    Returns
    -------
    The scenarios, enabled or not (callers filter on `enabled`).

    Raises
    ------
    ScenarioConfigError naming the file and the field path of the first problem, or a duplicate scenario id.
    """
    seen: dict[str, str] = {}
    scenarios: list[Scenario] = []
    for path in sorted(Path(directory).iterdir()):
        if path.suffix not in SCENARIO_SUFFIXES or not path.is_file():
            continue
        scenario = parse_scenario(_read(path), source=path.name)
        check_references(scenario, path.name, known_segments, known_templates, template_channels)
        if scenario.id in seen:
            raise ScenarioConfigError(
                path.name, "id", f"duplicate scenario id {scenario.id!r} (also in {seen[scenario.id]})"
            )
        seen[scenario.id] = path.name
        scenarios.append(scenario)
    return scenarios


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema users read (and editors validate against) for one scenario file."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "scenario.schema.json"  # same convention as local/gen_schemas.py
    return schema


@dataclass(frozen=True)
class TemplateCatalog:
    """What the template catalogue offers, for the reference check: template ids, and the channels each has a body
    for (None: do not check channels). The delivery wing owns the templates; the composition root passes this in."""

    known: Collection[str]
    channels: Mapping[str, Collection[str]] | None = None


def load_packaged_scenarios(templates: TemplateCatalog) -> list[Scenario]:
    """The scenarios of `chalicelib/config/scenarios/`, validated against the packaged segments and `templates`.

    Not cached here: `bootstrap.get_scenarios` loads them once per process."""
    from chalicelib.profiles.config import load_profile_config

    segments = {s.name for s in load_profile_config().segments.segments}
    return load_scenarios(PACKAGED_DIR, segments, templates.known, template_channels=templates.channels)


# -- run-time definitions ---------------------------------------------------------------------------------------------


def packaged_scenario_bodies() -> dict[str, dict[str, Any]]:
    """The packaged scenario files as JSON objects by id (sorted by file name), without the editor's `$schema`."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(PACKAGED_DIR.iterdir()):
        if path.suffix in SCENARIO_SUFFIXES and path.is_file():
            data = _read(path)
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                out[data["id"]] = {k: v for k, v in data.items() if k != "$schema"}
    return out


def validate_scenario_definition(
    body: dict[str, Any], known_segments: Collection[str], templates: TemplateCatalog
) -> Scenario:
    """Parse and cross-check one scenario body for the admin API. Raises DefinitionInvalid naming the path."""
    from chalicelib.definitions.exceptions import DefinitionInvalid

    try:
        scenario = parse_scenario(body, source="body")
        check_references(scenario, "body", known_segments, templates.known, templates.channels)
    except ScenarioConfigError as exc:
        raise DefinitionInvalid(exc.path, exc.detail) from None
    return scenario


def build_scenarios(effective: Iterable[Any]) -> list[Scenario]:
    """The effective scenarios (`definitions.effective.Effective` items), each marked with its version; a disabled
    definition stays listed but disabled (its runs in flight finish; no new run starts). A stored body that no longer
    parses is logged and left out, so one bad definition does not stop every scenario."""
    import logging

    out: list[Scenario] = []
    for item in effective:
        try:
            scenario = parse_scenario(item.body, source=f"{item.origin}:{item.id}")
        except ScenarioConfigError as exc:
            logging.getLogger("one2one").error("definitions: scenario %s v%s unusable: %s", item.id, item.version, exc)
            continue
        if not item.enabled and scenario.enabled:
            scenario = scenario.model_copy(update={"enabled": False})
        out.append(scenario.at_version(item.version))
    return out
