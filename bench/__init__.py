"""Benchmarks: the performance budget measured side by side with its baseline, and a cost model against Pinpoint.

Run `python -m bench` (full) or `python -m bench --quick` (CI: tiny N, same table shape). Results are printed as one
table and written to `bench/results/<timestamp>.json` and `bench/results/latest.json`.
"""
