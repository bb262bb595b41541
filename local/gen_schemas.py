"""Generate the JSON Schemas of the profile config files into chalicelib/config/schemas/ (run after model changes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.profiles.config import CONFIG_DIR, FILE_MODELS  # noqa: E402

SCHEMA_DIR = CONFIG_DIR / "schemas"


def render_schemas() -> dict[str, str]:
    """File name -> schema text, exactly as committed (sorted keys, 2-space indent, trailing newline)."""
    out: dict[str, str] = {}
    for name, model in FILE_MODELS.items():
        schema = model.model_json_schema(by_alias=True)
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{name}.schema.json", **schema}
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return out


def main() -> int:
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for file_name, text in render_schemas().items():
        (SCHEMA_DIR / file_name).write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMA_DIR / file_name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
