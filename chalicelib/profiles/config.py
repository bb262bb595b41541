"""Profile configuration as data: scoring, lifecycle and segments files, their models, loader and validation."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chalicelib.profiles.segmentation import SegmentDef
from chalicelib.rules import FieldCondition

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
FILES = ("scoring", "lifecycle", "segments")

_STRICT = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid. The message names the file and the field path."""

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(f"{file}: {problem}" for problem in problems))


# --- scoring ------------------------------------------------------------------------------------------------------


class EventPoints(BaseModel):
    """Engagement points for one event name, at most `daily_cap` awards per UTC day (reload loops cannot farm)."""

    model_config = _STRICT
    points: float
    daily_cap: int = Field(default=10, ge=1)


class EngagementConfig(BaseModel):
    """Behavioural score: points per event name, decaying with a half-life."""

    model_config = _STRICT
    half_life_days: float = Field(default=30.0, gt=0)
    events: dict[str, EventPoints] = Field(default_factory=dict, description="Event name -> points; pages: Page Viewed")


class FitRule(FieldCondition):
    """Fit points awarded while the condition holds (e.g. job title, company size, country, has email)."""

    points: float


class GradeConfig(BaseModel):
    """Grade A1..C3: letter from fit (A if fit >= fit_cuts[0], B if >= fit_cuts[1], else C), digit from engagement
    (1 if >= engagement_cuts[0], 2 if >= engagement_cuts[1], else 3)."""

    model_config = _STRICT
    fit_cuts: list[float] = Field(default=[40.0, 20.0], min_length=2, max_length=2)
    engagement_cuts: list[float] = Field(default=[50.0, 20.0], min_length=2, max_length=2)

    @field_validator("fit_cuts", "engagement_cuts")
    @classmethod
    def _descending(cls, cuts: list[float]) -> list[float]:
        if cuts[0] < cuts[1]:
            raise ValueError("cuts are [best band minimum, middle band minimum] and must be descending")
        return cuts


class Threshold(BaseModel):
    """A named score level; crossing it upwards records `score_crossed`, falling below records `score_dropped`."""

    model_config = _STRICT
    name: str = Field(min_length=1)
    min_total: float = Field(description="Crossed when engagement + fit >= min_total")


class InterestConfig(BaseModel):
    """Interest in a product category: weight per event, decayed by a half-life (top category = needs group)."""

    model_config = _STRICT
    half_life_days: float = Field(default=30.0, gt=0)
    weights: dict[str, float] = Field(
        default_factory=lambda: {"Product Viewed": 1.0, "Product Added": 3.0, "Order Completed": 5.0}
    )
    top_n: int = Field(default=5, ge=1, le=20)


class ScoringConfig(BaseModel):
    """`scoring.json`."""

    model_config = _STRICT
    schema_: str | None = Field(default=None, alias="$schema")
    engagement: EngagementConfig = Field(default_factory=EngagementConfig)
    fit: list[FitRule] = Field(default_factory=list)
    grade: GradeConfig = Field(default_factory=GradeConfig)
    thresholds: list[Threshold] = Field(default_factory=list)
    interests: InterestConfig = Field(default_factory=InterestConfig)

    @field_validator("thresholds")
    @classmethod
    def _unique_thresholds(cls, thresholds: list[Threshold]) -> list[Threshold]:
        names = [t.name for t in thresholds]
        if len(names) != len(set(names)):
            raise ValueError("threshold names must be unique")
        return thresholds


# --- lifecycle ----------------------------------------------------------------------------------------------------


class LoyalRule(BaseModel):
    """Who counts as a top customer; any one condition is enough, null disables a condition."""

    model_config = _STRICT
    min_revenue: float | None = Field(default=1000.0, ge=0)
    rfm_groups: list[str] = Field(default_factory=lambda: ["Champions"])
    min_rfm_monetary: int | None = Field(default=None, ge=1, le=5)
    min_group_value_percentile: float | None = Field(default=90.0, ge=0, le=100)


class LifecycleConfig(BaseModel):
    """`lifecycle.json`. Stages are decided in this order: churned, prospect, dormant, at_risk, new, loyal, active."""

    model_config = _STRICT
    schema_: str | None = Field(default=None, alias="$schema")
    new_days: int = Field(default=30, ge=1, description="A customer is 'new' this many days after the first order")
    at_risk_days: int = Field(default=90, ge=1, description="No order for this many days: at_risk")
    dormant_days: int = Field(default=180, ge=1, description="A customer silent (no activity) this long: dormant")
    churned_days: int = Field(default=365, ge=1, description="Anyone silent this long: churned")
    loyal: LoyalRule = Field(default_factory=LoyalRule)

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleConfig:
        if self.dormant_days >= self.churned_days:
            raise ValueError("dormant_days must be smaller than churned_days")
        return self


# --- segments -----------------------------------------------------------------------------------------------------


class SegmentsConfig(BaseModel):
    """`segments.json`."""

    model_config = _STRICT
    schema_: str | None = Field(default=None, alias="$schema")
    segments: list[SegmentDef] = Field(default_factory=list)

    @field_validator("segments")
    @classmethod
    def _unique_names(cls, segments: list[SegmentDef]) -> list[SegmentDef]:
        seen: set[str] = set()
        for segment in segments:
            if segment.name in seen:
                raise ValueError(f"duplicate segment name {segment.name!r}")
            seen.add(segment.name)
        return segments


class ProfileConfig(BaseModel):
    """Everything the fold needs besides population cut points."""

    model_config = _STRICT
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    segments: SegmentsConfig = Field(default_factory=SegmentsConfig)


FILE_MODELS: dict[str, type[BaseModel]] = {
    "scoring": ScoringConfig,
    "lifecycle": LifecycleConfig,
    "segments": SegmentsConfig,
}


# --- loading ------------------------------------------------------------------------------------------------------


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith("<") and part.endswith(">"):
            continue  # union tag added by pydantic (see segments._rule_tag), not a key in the file
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _find_file(directory: Path, name: str) -> Path:
    for suffix in (".json", ".yaml", ".yml"):
        candidate = directory / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    return directory / f"{name}.json"


def _read(path: Path) -> Any:
    shown = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(shown, [f"cannot read: {exc.strerror or exc}"]) from exc
    if path.suffix in (".yaml", ".yml"):
        import yaml  # lazy: keeps import time small when the config is JSON

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(shown, [f"invalid YAML: {exc}"]) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(shown, [f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]) from exc


def parse_config_file(name: str, data: Any, shown: str | None = None) -> BaseModel:
    """Validate one file's data with its model; raise `ConfigError` naming `shown` (default `{name}.json`)."""
    model = FILE_MODELS[name]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_format_loc(err['loc'])}: {err['msg']}" for err in exc.errors()[:20]]
        raise ConfigError(shown or f"{name}.json", problems) from exc


def _load(directory: Path) -> ProfileConfig:
    parts: dict[str, BaseModel] = {}
    for name in FILES:
        path = _find_file(directory, name)
        parts[name] = parse_config_file(name, _read(path), _display(path))
    return ProfileConfig.model_validate(parts)


@functools.lru_cache(maxsize=8)
def _load_cached(directory: str) -> ProfileConfig:
    return _load(Path(directory))


def load_profile_config(path: str | Path | None = None) -> ProfileConfig:
    """Load and validate `scoring`, `lifecycle` and `segments` (`.json`, or `.yaml`/`.yml`) from a directory.

    Parameters:
        path: the config directory; default `chalicelib/config/`.
    Returns:
        The validated `ProfileConfig`, cached per directory for the life of the process (a Lambda container).
    Raises:
        ConfigError: naming the file and the field path, e.g. `segments.json: segments[2].rule.all[0].op: ...`.
    """
    return _load_cached(str(Path(path) if path is not None else CONFIG_DIR))


def clear_config_cache() -> None:
    """Forget loaded configs (tests, or a long-lived local process after editing the files)."""
    _load_cached.cache_clear()


def validate_all(path: str | Path | None = None) -> list[str]:
    """Validate every config file without the cache; return the problems (empty when all is well).

    Usable from CI (`python -m chalicelib.profiles.config [dir]`, exit code 1 on problems) and at start-up.
    """
    directory = Path(path) if path is not None else CONFIG_DIR
    problems: list[str] = []
    for name in FILES:
        file = _find_file(directory, name)
        try:
            parse_config_file(name, _read(file), _display(file))
        except ConfigError as exc:
            problems.extend(str(exc).splitlines())
    return problems


def main(argv: list[str] | None = None) -> int:
    """CLI entry: print problems, return the exit code."""
    args = sys.argv[1:] if argv is None else argv
    problems = validate_all(args[0] if args else None)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("profile config OK")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
