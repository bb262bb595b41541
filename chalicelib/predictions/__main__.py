"""`python -m chalicelib.predictions FILE.csv`: fit BG/NBD and Gamma-Gamma on a customer-summary CSV, print JSON.

The CSV is the usual RFM-summary form, one row per customer: `customer_id,frequency,recency,T,monetary_value`
(frequency = repeat orders; recency and T in one time unit, e.g. days, from the first order to the last one and to
the end of the observation; monetary_value = mean value of the repeat orders). Rows that cannot be read are counted
and named on stderr, never guessed. `make clv-fit FILE=...` runs this.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from chalicelib.predictions.clv import CustomerHistory
from chalicelib.predictions.fit import fit_bgnbd, fit_gamma_gamma, sample_population

COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary_value")


def read_summary(path: Path) -> tuple[list[CustomerHistory], list[str]]:
    """The customers of a summary CSV and a message per refused line."""
    histories: list[CustomerHistory] = []
    problems: list[str] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(f"{path}: missing columns {', '.join(missing)} (need {','.join(COLUMNS)})")
        for line, row in enumerate(reader, start=2):
            try:
                history = CustomerHistory(
                    x=int(float(row["frequency"])),
                    t_x=float(row["recency"]),
                    T=float(row["T"]),
                    mean_order_value=float(row["monetary_value"] or 0),
                )
            except (TypeError, ValueError):
                problems.append(f"line {line}: not a number")
                continue
            if history.x < 0 or history.t_x < 0 or history.t_x > history.T:
                problems.append(f"line {line}: needs frequency >= 0 and 0 <= recency <= T")
                continue
            histories.append(history)
    return histories, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.predictions", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="customer-summary CSV: " + ",".join(COLUMNS))
    parser.add_argument("--sample", type=int, default=200_000, help="fit on a uniform sample of at most N customers")
    args = parser.parse_args(argv)
    histories, problems = read_summary(args.file)
    for problem in problems[:20]:
        print(f"{args.file}: {problem}", file=sys.stderr)
    if not histories:
        print(f"{args.file}: no usable rows", file=sys.stderr)
        return 2
    sample = sample_population(histories, args.sample)
    _, bgnbd = fit_bgnbd(sample)
    out = {"rows": len(histories), "rejected": len(problems), "sampled": len(sample), "bgnbd": bgnbd.as_dict()}
    try:
        _, gamma_gamma = fit_gamma_gamma(sample)
        out["gamma_gamma"] = gamma_gamma.as_dict()
    except ValueError as exc:
        out["gamma_gamma"] = {"error": str(exc)}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
