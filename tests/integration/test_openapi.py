"""The OpenAPI document: generated from the route table, valid OpenAPI 3.1, served at /openapi.json."""

from __future__ import annotations

import json
from typing import Any

from openapi_spec_validator import validate

from tests.integration.conftest import Harness


def document() -> dict[str, Any]:
    from app import app
    from chalicelib.api.openapi_spec import build_openapi

    return build_openapi(app)


def test_every_chalice_route_and_method_is_documented() -> None:
    # GIVEN the app's route table (routes added by any blueprint) WHEN the document is generated
    from app import app

    doc = document()
    documented = {
        (op["x-chalice-route"], method.upper()) for item in doc["paths"].values() for method, op in item.items()
    }
    # THEN every (route, method) appears, and the tracking endpoints are listed one by one
    assert {(uri, method) for uri, methods in app.routes.items() for method in methods} <= documented
    for kind in ("track", "t", "page", "p", "screen", "s", "identify", "i", "group", "g", "alias", "a", "batch"):
        assert {"post", "options"} <= set(doc["paths"][f"/v1/{kind}"])


def test_document_is_valid_openapi() -> None:
    validate(document())


def test_bodies_come_from_the_pydantic_models() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    assert schemas["TrackMessage"]["required"] == ["event"]
    assert schemas["ErrorBody"]["required"] == ["error"]
    body = doc["paths"]["/v1/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/BatchRequest"}
    assert doc["paths"]["/admin/sources"]["post"]["security"] == [{"adminIam": []}, {"localAdminToken": []}]


def test_openapi_json_is_served_and_cached(harness: Harness) -> None:
    from chalicelib.api import openapi

    first = harness.client.http.get("/openapi.json")
    second = harness.client.http.get("/openapi.json")
    assert first.status_code == 200 and first.headers["Content-Type"] == "application/json"
    assert json.loads(first.body)["openapi"] == "3.1.0"
    assert first.body == second.body and len(openapi._cache) == 1
