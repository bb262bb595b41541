"""`POST /v1/catalog/products`: the shop's backend writes products with a server source's secret write key.

A browser's public key may not: the catalog decides what mail says a product costs and where it links, which is the
kind of claim `tracking/trust.py` keeps from client sources. Up to 100 products per request (`{"products": [...]}`
or one product object); each is judged on its own: the good ones are stored, the refused ones listed with the field
and reason (and kept as failed events, like refused tracking messages). URLs must be on the shop's sites
(ONE2ONE_CATALOG_HOSTS) or the source's own allowed origins.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import BodyError, aws_failures_as_503, decoded_body, json_response, request_meta

bp = Blueprint(__name__)
MAX_PRODUCTS = 100
MAX_BODY_BYTES = 512 * 1024


@bp.route("/v1/catalog/products", methods=["POST"], content_types=["application/json", "text/plain"])
@aws_failures_as_503
def post_products() -> Response:
    """Write products from the shop's backend (a server source's write key; at most 100 per request)."""
    from chalicelib.bootstrap import get_catalog_service, get_failed_event_store, get_ingest_service
    from chalicelib.catalog import CatalogConflict, ProductError
    from chalicelib.tracking.ingest import write_key_from_header

    request = bp.current_request
    meta = request_meta(request)
    source, error = get_ingest_service().authenticate(
        write_key_from_header(meta.headers.get("authorization")), meta.source_ip
    )
    if source is None:
        return json_response(429 if error.code == "too_many_bad_keys" else 401, {"success": False, **error.to_dict()})
    if source.kind != "server":
        message = "catalog writes need a server source's secret write key, not a browser's public key"
        return json_response(403, {"success": False, "error": "server_source_required", "message": message})
    try:
        raw = decoded_body(request)
    except BodyError as exc:
        return exc.response()
    if raw and len(raw) > MAX_BODY_BYTES:
        return _bad("payload_too_large", f"at most {MAX_BODY_BYTES // 1024} KB per request", "", 413)
    try:
        body: Any = json.loads(raw or b"")
    except ValueError:
        return _bad("invalid_json", "the body is not JSON", "")
    products = body.get("products") if isinstance(body, dict) and "products" in body else [body]
    if not isinstance(products, list) or not products:
        return _bad("invalid_products", "'products' must be a non-empty list of product objects", "products")
    if len(products) > MAX_PRODUCTS:
        return _bad("too_many_products", f"at most {MAX_PRODUCTS} products per request", "products")
    service = get_catalog_service()
    results: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for index, product in enumerate(products):
        try:
            status, stored = service.upsert(product, extra_sites=source.allowed_origins)
            results.append({"index": index, "id": stored.product.id, "status": status, "version": stored.version})
        except ProductError as exc:
            reason = {**exc.to_dict(), "field": f"products[{index}].{exc.field}".rstrip(".")}
            get_failed_event_store().record(source.source_id, reason, product)
            rejected.append({"index": index, **reason})
        except CatalogConflict as exc:
            rejected.append({"index": index, "error": "conflict", "message": str(exc)})
    status_code = 200 if results else (409 if all(r.get("error") == "conflict" for r in rejected) else 400)
    return json_response(status_code, {"success": bool(results), "products": results, "rejected": rejected})


def _bad(code: str, message: str, field: str, status: int = 400) -> Response:
    return json_response(status, {"success": False, "error": code, "message": message, "field": field})
