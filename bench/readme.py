"""`python -m bench.readme`: rewrite README's benchmark section from the latest full run (`make bench-readme` runs the
benchmarks first). Each row gets the range of its first figure across every full run kept in bench/results/, so a
figure that moves with the machine's load says so; the metered cost's line items and the dated prices follow.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "bench" / "results"
BEGIN, END = "<!-- bench:begin (python -m bench.readme) -->", "<!-- bench:end -->"
NUMBER = re.compile(r"[-+]?\$?(\d[\d,]*\.?\d*)")


def _first_number(value: str) -> float | None:
    match = NUMBER.search(value)
    return float(match.group(1).replace(",", "")) if match else None


def full_runs(results: Path = RESULTS) -> list[dict[str, Any]]:
    """Every full (not --quick) run kept in `results`, oldest first."""
    runs = []
    for path in sorted(results.glob("2*.json")):
        document = json.loads(path.read_text())
        if not document.get("quick"):
            runs.append(document)
    return runs


def ranges(runs: list[dict[str, Any]]) -> dict[str, str]:
    """Per figure, `min-max` of its first number over the runs that have it (only when two or more do)."""
    seen: dict[str, list[float]] = {}
    for run in runs:
        for row in run["table"]:
            number = _first_number(str(row["value"]))
            if number is not None:
                seen.setdefault(row["figure"], []).append(number)
    return {
        figure: f"{min(values):,.2f}-{max(values):,.2f}".replace(".00", "")
        for figure, values in seen.items()
        if len(values) > 1
    }


def section(latest: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    from bench.__main__ import prices_text

    machine = latest["machine"]
    partial = latest.get("reused_from")
    runs = [run for run in runs if not run.get("reused_from")] or [latest]  # a partial re-run adds no new spread
    spread = ranges(runs)
    rows = [{**row, "range across runs": spread.get(row["figure"], "-")} for row in latest["table"]]
    dates = sorted({run["date"][:10] for run in runs})
    lines = [
        BEGIN,
        f"Latest full run: {latest['date'][:16].replace('T', ' ')} UTC, {machine['nproc']} vCPU {machine['cpu']},"
        f" Python {machine['python']}, against in-process moto. {len(runs)} full run(s) kept in bench/results/"
        f" ({', '.join(dates)}): the last column is each figure's range across them. Timing rows show their spread"
        " over repeats; the callgrind row (instructions per record) is the one to compare changes by on a busy"
        " machine. Regenerate this section with `make bench-readme`."
        + (
            f" Sections {', '.join(latest.get('sections_run') or [])} were re-run at"
            f" {latest['date'][:16].replace('T', ' ')} UTC (`python -m bench --only`); the rest is from the full run"
            f" of {partial[:16].replace('T', ' ')} UTC."
            if partial
            else ""
        ),
        "",
        _render(rows),
        "",
    ]
    cost = latest["results"].get("cost", {})
    if "per_million_events" in cost:
        from bench.cost import line_item_table

        lines += [
            "Metered cost, every line item (dollars per million events; `function` in brackets; measured on the real"
            " handlers, see bench/pipeline.py):",
            "",
            line_item_table(cost),
            "",
            prices_text(cost),
            "",
            "Assumptions: " + json.dumps(cost["assumptions"]),
        ]
    lines.append(END)
    return "\n".join(lines)


def _render(rows: list[dict[str, Any]]) -> str:
    keys = ["figure", "value", "target", "result", "range across runs"]
    widths = {k: max(len(str(r.get(k, ""))) for r in [dict(zip(keys, keys, strict=True)), *rows]) for k in keys}
    head = "| " + " | ".join(k.ljust(widths[k]) for k in keys) + " |"
    sep = "|" + "|".join("-" * (widths[k] + 2) for k in keys) + "|"
    body = ["| " + " | ".join(str(r.get(k, "")).ljust(widths[k]) for k in keys) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def rewrite(readme: Path, text: str) -> None:
    """Replace the marked section (the first run of this command adds the markers around the old table)."""
    current = readme.read_text()
    if BEGIN not in current:
        raise SystemExit(f"{readme} has no {BEGIN} marker: put it (and {END}) around the benchmark table once")
    head, rest = current.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + text + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    runs = full_runs(args.results)
    if not runs:
        raise SystemExit(f"no full run in {args.results}: run `python -m bench` (not --quick) first")
    rewrite(args.readme, section(runs[-1], runs))
    print(f"rewrote the benchmark section of {args.readme} from {len(runs)} full run(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
