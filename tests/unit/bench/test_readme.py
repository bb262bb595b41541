"""`python -m bench.readme` rewrites only the marked section, with each figure's range across the kept full runs."""

from __future__ import annotations

import json

from bench import readme


def _run(date: str, value: str, quick: bool = False) -> dict:
    return {
        "date": date,
        "quick": quick,
        "machine": {"nproc": 2, "cpu": "Test CPU", "python": "3.11.7"},
        "table": [{"figure": "Scoring", "value": value, "target": ">= 20,000/s", "result": "pass"}],
        "results": {},
    }


def test_the_section_is_rewritten_from_the_latest_full_run_with_the_range_across_runs(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for name, run in {
        "20261201T000000Z.json": _run("2026-12-01T00:00:00Z", "21,400 records/s"),
        "20261202T000000Z.json": _run("2026-12-02T00:00:00Z", "25,100 records/s"),
        "20261203T000000Z-quick.json": _run("2026-12-03T00:00:00Z", "900 records/s", quick=True),
    }.items():
        (results / name).write_text(json.dumps(run))
    page = tmp_path / "README.md"
    page.write_text(f"intro\n{readme.BEGIN}\nold table\n{readme.END}\noutro\n")

    assert readme.main(["--results", str(results), "--readme", str(page)]) == 0

    text = page.read_text()
    assert text.startswith("intro\n") and text.endswith("\noutro\n") and "old table" not in text
    assert "25,100 records/s" in text and "21,400-25,100" in text  # the latest run, and the range over full runs
    assert "900" not in text  # quick runs are not full runs
    assert "2 full run(s)" in text and "make bench-readme" in text
