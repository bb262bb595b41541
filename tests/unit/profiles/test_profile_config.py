"""Profile configuration files: loading, caching, error messages that name file and field, committed schemas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chalicelib.profiles.config import (
    CONFIG_DIR,
    ConfigError,
    ProfileConfig,
    clear_config_cache,
    load_profile_config,
    main,
    validate_all,
)
from local.gen_schemas import SCHEMA_DIR, render_schemas


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped config directory."""
    for name in ("scoring.json", "lifecycle.json", "segments.json"):
        shutil.copy(CONFIG_DIR / name, tmp_path / name)
    clear_config_cache()
    yield tmp_path
    clear_config_cache()


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_shipped_config_is_valid_and_cached():
    cfg = load_profile_config()
    assert isinstance(cfg, ProfileConfig)
    assert {s.name for s in cfg.segments.segments} == {
        "women_southern_california",
        "cart_abandoners",
        "loyal_top_of_group",
    }
    assert load_profile_config() is cfg
    assert validate_all() == []


def test_an_invalid_operator_names_the_file_and_the_field_path(config_dir):
    # GIVEN a typo deep in the third segment
    edit(
        config_dir / "segments.json",
        lambda d: d["segments"][2]["rule"].update({"all": [{"field": "stage", "op": "equals", "value": 1}]}),
    )
    # WHEN the config is loaded
    with pytest.raises(ConfigError) as error:
        load_profile_config(config_dir)
    # THEN the message points at it (union tags are not part of the path)
    assert "segments.json: segments[2].rule.all[0].op: Input should be 'eq'" in str(error.value)
    assert error.value.file.endswith("segments.json")


def test_a_missing_field_in_scoring_is_reported(config_dir):
    edit(config_dir / "scoring.json", lambda d: d["thresholds"].append({"name": "sql2"}))
    with pytest.raises(ConfigError, match=r"scoring.json: thresholds\[2\].min_total: Field required"):
        load_profile_config(config_dir)


def test_inconsistent_lifecycle_days_are_rejected(config_dir):
    edit(config_dir / "lifecycle.json", lambda d: d.update(dormant_days=400))
    with pytest.raises(ConfigError, match="lifecycle.json: .*dormant_days must be smaller than churned_days"):
        load_profile_config(config_dir)


def test_broken_json_reports_line_and_column(config_dir):
    (config_dir / "lifecycle.json").write_text('{\n  "new_days": 30,\n}')
    with pytest.raises(ConfigError, match=r"lifecycle.json: invalid JSON at line 3 column 1"):
        load_profile_config(config_dir)


def test_a_missing_file_is_a_config_error(config_dir):
    (config_dir / "scoring.json").unlink()
    with pytest.raises(ConfigError, match="scoring.json: cannot read"):
        load_profile_config(config_dir)


def test_yaml_files_are_accepted(config_dir):
    (config_dir / "lifecycle.json").unlink()
    (config_dir / "lifecycle.yaml").write_text("new_days: 14\nchurned_days: 400\n")
    assert load_profile_config(config_dir).lifecycle.new_days == 14


def test_validate_all_collects_problems_of_every_file_and_the_cli_fails(config_dir, capsys):
    edit(config_dir / "segments.json", lambda d: d["segments"].append(d["segments"][0]))
    edit(config_dir / "scoring.json", lambda d: d["grade"].update(fit_cuts=[1, 2]))
    problems = validate_all(config_dir)
    assert len(problems) == 2
    assert any("duplicate segment name" in p for p in problems)
    assert any("grade.fit_cuts" in p for p in problems)
    assert main([str(config_dir)]) == 1
    assert "duplicate segment name" in capsys.readouterr().err


def test_committed_schemas_equal_the_generated_ones():
    # Run `python local/gen_schemas.py` after changing a config model.
    for file_name, text in render_schemas().items():
        assert (SCHEMA_DIR / file_name).read_text(encoding="utf-8") == text, f"{file_name} is stale"


def test_shipped_files_point_editors_at_their_schema():
    for name in ("scoring", "lifecycle", "segments"):
        data = json.loads((CONFIG_DIR / f"{name}.json").read_text())
        assert data["$schema"] == f"./schemas/{name}.schema.json"
        assert (CONFIG_DIR / data["$schema"]).exists()
