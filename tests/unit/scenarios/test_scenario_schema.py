"""The committed scenario JSON Schema is the generated one, and the shipped scenarios satisfy it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "chalicelib" / "config" / "schemas" / "scenario.schema.json"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_scenario_schema", ROOT / "local" / "gen_scenario_schema.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_schema_equals_generated_schema() -> None:
    # GIVEN the models WHEN the schema is generated THEN it is byte-identical to the committed file
    expected = _generator().render_schema()
    assert SCHEMA.read_text(encoding="utf-8") == expected, "run: .venv/bin/python local/gen_scenario_schema.py"


def test_shipped_scenarios_validate_against_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    for path in sorted((ROOT / "chalicelib" / "config" / "scenarios").glob("*.json")):
        jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), schema)
