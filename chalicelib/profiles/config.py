"""Profile configuration as data: scoring, lifecycle and segments files, their models, loader and validation."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib.profiles.segmentation import SegmentDef
from chalicelib.scoring.config import LifecycleConfig, ScoringConfig

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
FILES = ("scoring", "lifecycle", "segments")

_STRICT = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid. The message names the file and the field path."""

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(f"{file}: {problem}" for problem in problems))


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
