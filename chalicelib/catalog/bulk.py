"""Reading a catalog upload: CSV (a header row; variant rows name their product in `parent_id`) or JSONL (one
product object per line, variants nested). Pure: rows come back with their line numbers for the report."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from chalicelib.catalog.exceptions import UploadError

MAX_ROWS = 50_000  # an admin upload (API Gateway caps the body at 10 MB); larger feeds are split
PRODUCT_COLUMNS = (
    "id",
    "sku",
    "name",
    "url",
    "image",
    "price",
    "currency",
    "category",
    "brand",
    "stock",
    "availability",
    "updated_at",
)
VARIANT_COLUMNS = ("id", "sku", "name", "price", "currency", "stock", "availability", "url", "image")
FORMATS = ("csv", "jsonl")

Row = tuple[int, dict[str, Any]]


def parse(text: str, fmt: str) -> tuple[list[Row], list[dict[str, Any]]]:
    """(product rows with their line numbers, lines refused while reading). Raises UploadError."""
    if fmt == "csv":
        return _csv(text)
    if fmt == "jsonl":
        return _jsonl(text)
    raise UploadError(f"unknown format {fmt!r}: use csv or jsonl")


def _jsonl(text: str) -> tuple[list[Row], list[dict[str, Any]]]:
    rows: list[Row] = []
    rejected: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(rows) + len(rejected) >= MAX_ROWS:
            raise UploadError(f"more than {MAX_ROWS} rows: split the file")
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            rejected.append({"line": n, "id": None, "field": "", "reason": f"not JSON: {exc.msg}"})
            continue
        if not isinstance(value, dict):
            rejected.append({"line": n, "id": None, "field": "", "reason": "a line must be one JSON object"})
            continue
        rows.append((n, value))
    return rows, rejected


def _csv(text: str) -> tuple[list[Row], list[dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise UploadError("the file is empty") from None
    except csv.Error as exc:
        raise UploadError(f"not CSV: {exc}") from None
    known = set(PRODUCT_COLUMNS) | {"parent_id"} | {f"option_{k}" for k in ("size", "color", "colour", "material")}
    unknown = [h for h in header if h not in known and not h.startswith("option_")]
    if unknown:
        raise UploadError(f"unknown column(s) {', '.join(unknown)}; known: {', '.join(PRODUCT_COLUMNS)}, parent_id")
    if "id" not in header:
        raise UploadError("the header needs an 'id' column")
    products: dict[str, Row] = {}
    order: list[str] = []
    rows: list[Row] = []
    rejected: list[dict[str, Any]] = []
    variants: list[tuple[int, str, dict[str, Any]]] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(rows) + len(variants) + len(rejected) >= MAX_ROWS:
                raise UploadError(f"more than {MAX_ROWS} rows: split the file")
            if len(values) != len(header):
                reason = f"{len(values)} values for {len(header)} columns"
                rejected.append({"line": line, "id": values[0] if values else None, "field": "", "reason": reason})
                continue
            record = {h: v.strip() for h, v in zip(header, values, strict=True) if v.strip() != ""}
            parent = record.pop("parent_id", None)
            if parent:
                options = {k.removeprefix("option_"): record.pop(k) for k in list(record) if k.startswith("option_")}
                variant = {k: v for k, v in record.items() if k in VARIANT_COLUMNS}
                dropped = sorted(set(record) - set(VARIANT_COLUMNS))
                if dropped:
                    reason = f"column(s) {', '.join(dropped)} do not apply to a variant"
                    rejected.append({"line": line, "id": record.get("id"), "field": dropped[0], "reason": reason})
                    continue
                variants.append((line, parent, {**variant, **({"options": options} if options else {})}))
                continue
            for key in [k for k in record if k.startswith("option_")]:
                record.pop(key)
            key = record.get("id", f"#line{line}")
            if key not in products:
                order.append(key)
            products.setdefault(key, (line, record))
            if products[key][0] != line:
                rows.append((line, record))  # a duplicate id: the service reports it
    except csv.Error as exc:
        rejected.append({"line": reader.line_num, "id": None, "field": "", "reason": f"not CSV: {exc}"})
    for line, parent, variant in variants:
        if parent not in products:
            reason = f"parent_id {parent!r} is not a product of this file"
            rejected.append({"line": line, "id": variant.get("id"), "field": "parent_id", "reason": reason})
            continue
        products[parent][1].setdefault("variants", []).append(variant)
    rows = [products[k] for k in order] + rows
    rows.sort(key=lambda r: r[0])
    return rows, rejected
