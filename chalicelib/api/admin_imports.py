"""Admin API for imports: upload a file (or name an object of the import bucket), follow an import and its report,
list the recent ones, and convert Pinpoint message templates."""

from __future__ import annotations

import json
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.admin import admin_only, iam
from chalicelib.api.http import json_response

bp = Blueprint(__name__)

MAX_LIST = 100
# API Gateway takes bodies up to 10 MB; a larger file goes to the import bucket (aws s3 cp) and is named by its key.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
UPLOAD_TYPES = [
    "text/csv",
    "application/x-ndjson",
    "application/jsonl",
    "application/gzip",
    "application/octet-stream",
    "text/plain",
    "application/json",
]
FORMATS = {
    "csv": "x.csv",
    "jsonl": "x.jsonl",
    "ndjson": "x.jsonl",
    "csv.gz": "x.csv.gz",
    "jsonl.gz": "x.jsonl.gz",
    "gz": "x.gz",
}


def _error(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"success": False, "error": code, "message": message}
    if field:
        body["field"] = field
    return json_response(status, body)


@bp.route("/admin/imports", methods=["POST"], authorizer=iam, content_types=UPLOAD_TYPES)
@admin_only
def start_import() -> Response:
    """Start an import. Either the file as the body (`?kind=people|orders|events|pinpoint_endpoints|pinpoint_segment`,
    `&format=csv|jsonl|csv.gz|jsonl.gz`, `&segment=<id>` for a segment list), or a JSON body
    `{"key": "<object in the import bucket>", "kind": ..., "segment": ...}`. 202 with the import; the same file again
    answers 200 with the import it already is."""
    from chalicelib.bootstrap import get_import_service
    from chalicelib.imports import ImportRefused, job_view

    request = bp.current_request
    params = dict(request.query_params or {})
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    raw = request.raw_body or b""
    body = raw.encode() if isinstance(raw, str) else raw
    service = get_import_service()
    try:
        if content_type == "application/json" and "format" not in params:
            try:
                spec = json.loads(body or b"{}")
            except ValueError:
                return _error(400, "invalid_json", "the body must be a JSON object naming the object's key")
            if not isinstance(spec, dict) or not isinstance(spec.get("key"), str) or not spec["key"]:
                return _error(400, "missing_field", 'name the object: {"key": "people/2026-01.csv"}', "key")
            kind = spec.get("kind")
            segment = spec.get("segment")
            if kind is not None and not isinstance(kind, str) or segment is not None and not isinstance(segment, str):
                return _error(400, "invalid_parameter", "kind and segment are strings", "kind")
            job, created = service.start(spec["key"][:1024], kind, segment)
        else:
            kind = params.get("kind")
            if not kind:
                return _error(400, "missing_parameter", "kind is required (people, orders, events, ...)", "kind")
            fmt = params.get("format", "csv" if content_type == "text/csv" else "jsonl")
            if fmt not in FORMATS:
                return _error(400, "invalid_parameter", f"format must be one of {', '.join(FORMATS)}", "format")
            if not body:
                return _error(400, "empty_file", "the body is empty; send the file as the request body")
            if len(body) > MAX_UPLOAD_BYTES:
                return _error(413, "payload_too_large", "upload at most 10 MB here; put larger files in the bucket")
            job, created = service.start_upload(kind, body, FORMATS[fmt], params.get("segment"))
    except ImportRefused as exc:
        status = 404 if exc.code == "not_found" else 400
        return _error(status, exc.code, exc.message, exc.field)
    view = job_view(job)
    return json_response(
        202 if created else 200, {"created": created, "status_url": f"/admin/imports/{job.import_id}", **view}
    )


@bp.route("/admin/imports/{import_id}", methods=["GET"], authorizer=iam)
@admin_only
def get_import(import_id: str) -> Response:
    """An import's progress and report: chunks, rows accepted/rejected, notices, and the rejected rows (line, reason,
    raw) from `?after_line=` (`limit` 1 to 500, default 100)."""
    from chalicelib.bootstrap import get_import_service
    from chalicelib.imports import job_view, rejected_view

    params = dict(bp.current_request.query_params or {})
    limit, after = params.get("limit", "100"), params.get("after_line", "0")
    if not limit.isdigit() or not 1 <= int(limit) <= 500:
        return _error(400, "invalid_parameter", "limit must be an integer from 1 to 500", "limit")
    if not after.isdigit() or len(after) > 12:
        return _error(400, "invalid_parameter", "after_line must be a line number", "after_line")
    service = get_import_service()
    job = service.status(import_id)
    if job is None:
        return _error(404, "not_found", f"no import {import_id[:100]!r}")
    rows = service.report(job.import_id, int(limit), int(after))
    return json_response(200, {**job_view(job), "rejected": [rejected_view(r) for r in rows]})


@bp.route("/admin/imports", methods=["GET"], authorizer=iam)
@admin_only
def list_imports() -> Response:
    """The most recent imports, newest first (`?limit=`, 1 to 100, default 20)."""
    from chalicelib.bootstrap import get_import_service
    from chalicelib.imports import job_view

    raw = dict(bp.current_request.query_params or {}).get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        return _error(400, "invalid_parameter", f"limit must be an integer from 1 to {MAX_LIST}", "limit")
    jobs = get_import_service().recent(int(raw))
    return json_response(200, {"count": len(jobs), "items": [job_view(j) for j in jobs]})


@bp.route("/admin/imports/pinpoint-template", methods=["POST"], authorizer=iam)
@admin_only
def convert_pinpoint_template() -> Response:
    """Convert a Pinpoint message template (the JSON `aws pinpoint get-email-template` prints, or
    `{"HtmlPart": ..., "Subject": ..., "TextPart": ...}`) into our Jinja2 template, with what did not convert.
    Nothing is saved: put the result through `/admin/definitions/template/{id}` once it reads right."""
    from chalicelib.imports import convert_template_document

    try:
        document = json.loads(bp.current_request.raw_body or b"")
    except ValueError:
        return _error(400, "invalid_json", "the body must be a Pinpoint template as JSON")
    if not isinstance(document, dict):
        return _error(400, "invalid_json", "the body must be a JSON object")
    result = convert_template_document(document)
    if not result["template"]:
        return _error(400, "missing_field", "the template has no Subject, HtmlPart, TextPart or Body", "HtmlPart")
    return json_response(200, result)
