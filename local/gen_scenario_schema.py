"""Write the scenario JSON Schema users and editors read: `python local/gen_scenario_schema.py` (from the repo root).

The committed file must equal the generated one; tests/unit/test_scenario_schema.py fails when a model change was not
followed by running this script.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "chalicelib" / "config" / "schemas" / "scenario.schema.json"


def render_schema() -> str:
    """The schema file content, stable byte for byte (sorted keys, 2-space indent, trailing newline)."""
    sys.path.insert(0, str(ROOT))
    from chalicelib.scenarios.loader import scenario_json_schema

    return json.dumps(scenario_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(render_schema(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
