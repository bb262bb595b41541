"""Admin API of the catalog: read and write one product, list products, bulk-load a CSV or JSONL upload."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.admin import _int_param, _json_object, admin_only, iam
from chalicelib.api.http import BodyError, decoded_body, json_response

bp = Blueprint(__name__)
UPLOAD_TYPES = ["text/csv", "application/x-ndjson", "application/jsonl", "text/plain", "application/octet-stream"]


@bp.route("/admin/catalog/products/{product_id}", methods=["PUT"], authorizer=iam)
@admin_only
def put_product(product_id: str) -> Response:
    """Write one product (replaces it); 201 when new."""
    from chalicelib.bootstrap import get_catalog_service
    from chalicelib.catalog import CatalogConflict, ProductError

    body = _json_object()
    if body is None:
        return json_response(400, {"error": "invalid_json", "message": "the body must be a JSON object"})
    try:
        status, stored = get_catalog_service().upsert(body, product_id=product_id)
    except ProductError as exc:
        return json_response(400, exc.to_dict())
    except CatalogConflict as exc:
        return json_response(409, {"error": "conflict", "message": str(exc)})
    return json_response(201 if status == "created" else 200, {"status": status, "product": stored.view()})


@bp.route("/admin/catalog/products/{product_id}", methods=["GET"], authorizer=iam)
@admin_only
def get_product(product_id: str) -> Response:
    """One product with its version, stock and price history."""
    from chalicelib.bootstrap import get_catalog_store

    stored = get_catalog_store().get(product_id)
    if stored is None:
        return json_response(404, {"error": "not_found", "message": f"no product {product_id!r}"})
    return json_response(200, stored.view())


@bp.route("/admin/catalog/products", methods=["GET"], authorizer=iam)
@admin_only
def list_products() -> Response:
    """Products, a page at a time (`limit`, `cursor`)."""
    from chalicelib.bootstrap import get_catalog_store

    query: dict[str, str] = dict(bp.current_request.query_params or {})
    try:
        limit = _int_param("limit", 50, 1, 500)
        products, cursor = get_catalog_store().page(limit, query.get("cursor"))
    except ValueError as exc:
        return json_response(400, {"error": "invalid_parameter", "message": str(exc)})
    return json_response(200, {"products": [p.view() for p in products], "cursor": cursor})


@bp.route("/admin/catalog/import", methods=["POST"], authorizer=iam, content_types=UPLOAD_TYPES)
@admin_only
def import_products() -> Response:
    """Bulk-load a CSV or JSONL upload (the body; `?format=csv|jsonl`, else text/csv -> csv, anything else jsonl)."""
    from chalicelib.bootstrap import get_catalog_service
    from chalicelib.catalog import UploadError

    request = bp.current_request
    query: dict[str, str] = dict(request.query_params or {})
    headers: dict[str, str] = dict(request.headers or {})
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = query.get("format") or ("csv" if content_type == "text/csv" else "jsonl")
    try:
        raw: Any = decoded_body(request)
    except BodyError as exc:
        return exc.response()
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else (raw or "")
    except UnicodeDecodeError:
        return json_response(400, {"error": "invalid_upload", "message": "the upload must be UTF-8 text"})
    try:
        report = get_catalog_service().bulk_load(text, fmt)
    except UploadError as exc:
        return json_response(400, {"error": "invalid_upload", "message": str(exc)})
    return json_response(200, report.as_dict())
