"""OpenAPI 3.1 document generated from the Chalice route table, with bodies from the pydantic models in api/schemas.

The route table (`app.routes`) is the source of truth for *which* operations exist, so a route added anywhere appears
in the document at once (with a generic description until someone documents it in `KNOWN` below). What each known
operation takes and answers is written here, next to the models, so that route modules stay thin.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TITLE = "one2one HTTP API"
VERSION = "0.1.0"
JSON = "application/json"
REF = "#/components/schemas/{model}"

# Path parameters whose values are a closed set: `/v1/{kind}` is really thirteen Segment endpoints, each with its own
# body, so the document lists them one by one (as Segment's own documentation does) instead of one vague operation.
BATCH = "batch"
CONSENT = "consent"


@dataclass(frozen=True)
class Doc:
    """What the route table cannot tell: summary, bodies and answers of one operation."""

    summary: str
    tags: tuple[str, ...]
    build: Callable[[str, dict[str, Any]], dict[str, Any]]  # (concrete path, path params) -> operation fields
    expand: Callable[[], list[tuple[str, dict[str, Any]]]] | None = None  # concrete paths for a templated route
    security: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


# --- building blocks ------------------------------------------------------------------------------------------------


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def json_answer(description: str, model: str | None, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    out["content"] = {JSON: {"schema": ref(model) if model else {"type": "object"}}}
    if headers:
        out["headers"] = headers
    return out


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}}
UNAVAILABLE = json_answer("storage is temporarily unavailable; retry (SDKs retry 5xx)", "ErrorBody", RETRY_AFTER)
UNSUPPORTED = json_answer(
    "the Content-Type is not one this operation accepts (answered by the framework)", "ChaliceError"
)


def tracking_kinds() -> list[str]:
    from chalicelib.tracking.validation import TYPE_BY_PATH

    return [*TYPE_BY_PATH, BATCH, CONSENT]


def pixel_kinds() -> list[str]:
    from chalicelib.tracking.validation import TYPE_BY_PATH

    return list(TYPE_BY_PATH)


def expand_kinds() -> list[tuple[str, dict[str, Any]]]:
    return [(f"/v1/{kind}", {"kind": kind}) for kind in tracking_kinds()]


def post_message(path: str, params: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.tracking.validation import TYPE_BY_PATH

    kind = params["kind"]
    special = {BATCH: ("BatchRequest", "Send a batch of messages"), CONSENT: ("ConsentRequest", "Record consent")}
    model, summary = special.get(kind) or (type_model(TYPE_BY_PATH[kind]), f"Send a {TYPE_BY_PATH[kind]} message")
    limit = "500 KB" if kind == BATCH else "32 KB"
    accepted = "ConsentRecorded" if kind == CONSENT else "Accepted"
    return {
        "summary": summary,
        "operationId": f"post_{kind}",
        "description": (
            f"Segment-compatible `{kind}` endpoint (body at most {limit}). The write key is the HTTP Basic username "
            "(empty password), or `writeKey` in the body for `navigator.sendBeacon`, which posts `text/plain`."
        ),
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": ref(model)},
                # sendBeacon and some proxies send the same JSON as text; it is parsed all the same.
                "text/plain": {"schema": {"type": "string", "description": "the same JSON document, as text"}},
            },
        },
        "responses": {
            "200": json_answer("stored (a batch lists the messages it did not store in `rejected`)", accepted),
            "400": json_answer("invalid JSON, too large, or an invalid message (`field` names it)", "ErrorBody"),
            "401": json_answer("missing or unknown write key", "ErrorBody"),
            "403": json_answer("the browser Origin is not allowed for this source", "ErrorBody"),
            "415": UNSUPPORTED,
            "503": UNAVAILABLE,
        },
    }


def type_model(message_type: str) -> str:
    from chalicelib.api.schemas import MESSAGE_MODELS

    return MESSAGE_MODELS[message_type].__name__


def preflight(path: str, params: dict[str, Any]) -> dict[str, Any]:
    cors = {
        name: {"schema": {"type": "string"}}
        for name in ("Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers")
    }
    return {
        "operationId": f"preflight_{params['kind']}",
        "description": "CORS preflight: allowed when some source lists the `Origin`.",
        "parameters": [
            {"name": "Origin", "in": "header", "required": False, "schema": {"type": "string"}},
            {"name": "Access-Control-Request-Headers", "in": "header", "required": False, "schema": {"type": "string"}},
        ],
        "responses": {
            "204": {"description": "allowed", "headers": cors},
            "403": json_answer("no source allows this origin", "ErrorBody"),
            "503": UNAVAILABLE,
        },
    }


def pixel(path: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": (
            "No-JavaScript tracking (emails, `<noscript>`): `data` is base64 JSON of one message, or the message is "
            "given as plain query parameters (ids and names at the top level, everything else as properties). "
            "Always answers a 1x1 GIF, even when the message is refused (refusals are kept as failed events)."
        ),
        "parameters": [
            {"name": "writeKey", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "data", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "anonymousId", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "userId", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "event", "in": "query", "required": False, "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {
                "description": "a transparent 1x1 GIF",
                "content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    }


def sms_code(request: str, answer: str, refusals: str) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    def build(path: str, params: dict[str, Any]) -> dict[str, Any]:
        text = {"type": "string", "description": "the same JSON document, as text"}
        return {
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": ref(request)}, "text/plain": {"schema": text}},
            },
            "responses": {
                "200": json_answer(answer, "SmsCodeStatus"),
                "400": json_answer(refusals, "ErrorBody"),
                "401": json_answer("missing or unknown write key", "ErrorBody"),
                "403": json_answer("the browser Origin is not allowed for this source", "ErrorBody"),
                "415": UNSUPPORTED,
                "503": UNAVAILABLE,
            },
        }

    return build


def device_registration(answer: str) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    def build(path: str, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "requestBody": {"required": True, "content": {JSON: {"schema": ref("DeviceRegistration")}}},
            "responses": {
                "200": json_answer(answer, "Accepted"),
                "400": json_answer(
                    "invalid JSON, a token of the wrong shape for its platform (`token`), an unknown `platform`, "
                    "a non-boolean `enabled`, or no id",
                    "ErrorBody",
                ),
                "401": json_answer("missing or unknown write key", "ErrorBody"),
                "415": UNSUPPORTED,
                "503": UNAVAILABLE,
            },
        }

    return build


def tracker_js(path: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "responses": {
            "200": {
                "description": "the first-party tracker script",
                "content": {"application/javascript": {"schema": {"type": "string"}}},
            }
        }
    }


def openapi_json(path: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"responses": {"200": json_answer("this document", None)}}


def admin(answer: str, *, query: list[dict[str, Any]] | None = None, body: str | None = None, created: bool = False):
    """Builder for an admin operation: the common refusals plus the given answer model."""

    def build(path: str, params: dict[str, Any]) -> dict[str, Any]:
        responses = {
            "201" if created else "200": json_answer("ok", answer),
            "400": json_answer("a parameter or the body is invalid", "ErrorBody"),
            "401": json_answer("locally: missing or wrong bearer token (in AWS, IAM answers 403)", "ErrorBody"),
            "503": UNAVAILABLE,
        }
        out: dict[str, Any] = {"responses": responses}
        if "{profile_id}" in path or answer == "ProfileView":
            responses["404"] = json_answer("no such profile", "ErrorBody")
        if query:
            out["parameters"] = query
        if body:
            out["requestBody"] = {"required": True, "content": {JSON: {"schema": ref(body)}}}
            responses["415"] = UNSUPPORTED
        return out

    return build


def page_preflight(path: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "responses": {
            "204": {"description": "the origin may read this route"},
            "403": json_answer("no source allows this origin", "ErrorBody"),
        }
    }


def admin_read(query: list[dict[str, Any]] | None = None) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    def build(path: str, params: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "responses": {
                "200": json_answer("ok", None),
                "400": json_answer("a parameter is invalid", "ErrorBody"),
                "401": json_answer("locally: missing or wrong bearer token (in AWS, IAM answers 403)", "ErrorBody"),
                "404": json_answer("nothing learnt for it / no such profile", "ErrorBody"),
                "503": UNAVAILABLE,
            }
        }
        if query:
            out["parameters"] = query
        return out

    return build


def page_read(answer: str, query: list[dict[str, Any]]) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """Builder for the public page reads (personalize, recommendations): write key, named 4xx, never a 5xx but 503."""

    def build(path: str, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "parameters": [query_param("writeKey", "the source's write key (or HTTP Basic)"), *query],
            "responses": {
                "200": json_answer(answer, None),
                "400": json_answer("a parameter is invalid (`field` names it)", "ErrorBody"),
                "401": json_answer("missing or unknown write key", "ErrorBody"),
                "403": json_answer("the Origin is not allowed for this source", "ErrorBody"),
                "503": UNAVAILABLE,
            },
        }

    return build


def query_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def definitions_op(*, write: bool = False) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """Builder for the run-time definitions routes (`api/admin_definitions.py`): a save may create (201) or conflict
    (409, a stale `If-Match`); a read may find nothing (404, also for an unknown kind)."""

    def build(path: str, params: dict[str, Any]) -> dict[str, Any]:
        responses: dict[str, Any] = {
            "200": json_answer("ok", None),
            "400": json_answer("invalid body or parameter; `field` names the JSON path", "ErrorBody"),
            "401": json_answer("locally: missing or wrong bearer token (in AWS, IAM answers 403)", "ErrorBody"),
            "404": json_answer("unknown kind, id or version", "ErrorBody"),
            "503": UNAVAILABLE,
        }
        out: dict[str, Any] = {"responses": responses}
        if write:
            responses["201"] = json_answer("first stored version of this id", None)
            responses["409"] = json_answer("`If-Match` is not the head version: read again and re-apply", "ErrorBody")
            out["parameters"] = [
                {
                    "name": "If-Match",
                    "in": "header",
                    "required": False,
                    "description": "the version this change is based on (0: create only)",
                    "schema": {"type": "string"},
                },
                query_param("expected_version", "same as If-Match", type="integer", minimum=0),
            ]
        if path.endswith("}") and not path.endswith("{version}") and write:
            out["requestBody"] = {"required": True, "content": {JSON: {"schema": {"type": "object"}}}}
            responses["415"] = UNSUPPORTED
        return out

    return build


DEFINITIONS = "/admin/definitions/{kind}"
EVENTS_PARAM = query_param("events", "how many recent events to include", type="integer", minimum=0, maximum=500)
ADMIN = ("adminIam", "localAdminToken")
VISITOR_PARAMS = [query_param("anonymousId", "the visitor's anonymous id"), query_param("userId", "the user id")]

KNOWN: dict[tuple[str, str], Doc] = {
    ("/v1/{kind}", "POST"): Doc(
        "Send one message, or a batch", ("tracking",), post_message, expand_kinds, ("writeKey",)
    ),
    ("/v1/{kind}", "OPTIONS"): Doc("CORS preflight", ("tracking",), preflight, expand_kinds),
    ("/v1/pixel/{kind}", "GET"): Doc("Tracking pixel", ("tracking",), pixel),
    ("/v1/subscribe/sms", "POST"): Doc(
        "Text a confirmation code for SMS consent",
        ("consent",),
        sms_code(
            "SmsCodeRequest",
            "a transactional SMS with a 6-digit code (valid 10 minutes) was sent; at most 3 a day to one number",
            "invalid JSON, a `phone` that is not a valid international number (`invalid_field`) or a refused "
            "destination (`sms_destination_refused`), no id (`missing_id`), or SNS refused the number (`sms_not_sent`)",
        ),
        security=("writeKey",),
    ),
    ("/v1/subscribe/sms/confirm", "POST"): Doc(
        "Confirm SMS consent with the texted code",
        ("consent",),
        sms_code(
            "SmsCodeConfirm",
            "the code was right: `SMS Subscribed` is recorded (method `sms_code`) and the number becomes the person's",
            "a malformed `phone` or `code`; `wrong_code` (with `attempts_left`; after 5 the code is void); "
            "`code_expired` (none pending, older than 10 minutes, used, or void)",
        ),
        security=("writeKey",),
    ),
    ("/v1/devices", "POST"): Doc(
        "Register a push device (token, platform, notification permission)",
        ("tracking",),
        device_registration("recorded as `Device Registered`; `enabled: true` also lifts a retirement of the token"),
        security=("writeKey",),
    ),
    ("/v1/devices/unregister", "POST"): Doc(
        "Unregister a push device",
        ("tracking",),
        device_registration("recorded as `Device Unregistered`: no push goes to the token any more"),
        security=("writeKey",),
    ),
    ("/tracker.js", "GET"): Doc("The first-party tracker", ("assets",), tracker_js),
    ("/slots.js", "GET"): Doc("The slot filler tracker.js loads on pages with data-o2o-slot", ("assets",), tracker_js),
    ("/v1/personalize", "GET"): Doc(
        "Content per page slot for this visitor, chosen by rules over their profile (slots.json)",
        ("personalisation",),
        page_read(
            "per slot `{variant, content}` (+ `items` for a recommendations slot); `{}` for an unknown slot; an "
            "unknown visitor gets the defaults. `Cache-Control: public, max-age=60` when no visitor id is given",
            [query_param("slots", "comma-separated slot ids (1-10)"), *VISITOR_PARAMS],
        ),
        security=("writeKey",),
    ),
    ("/v1/personalize", "OPTIONS"): Doc("CORS preflight", ("personalisation",), page_preflight),
    ("/v1/recommendations", "GET"): Doc(
        "Products for this visitor: similar to their items, else popular in their categories or overall",
        ("personalisation",),
        page_read(
            "`items`: product cards with a `reason` (similar, popular_in_category, popular)",
            [query_param("limit", "1-20 (default 10)", type="integer", minimum=1, maximum=20), *VISITOR_PARAMS],
        ),
        security=("writeKey",),
    ),
    ("/v1/recommendations", "OPTIONS"): Doc("CORS preflight", ("personalisation",), page_preflight),
    ("/v1/in-app", "GET"): Doc(
        "In-app / on-site messages eligible for this visitor now, highest priority first (web and apps)",
        ("in-app",),
        page_read(
            "`messages`: `{id, kind (banner|modal|card), title, body, image_url, buttons, placement, custom}`; "
            "an unknown visitor gets none. Report views, clicks and dismissals as `In-App Message Viewed` / "
            "`Clicked` / `Dismissed` events with `properties.message_id`",
            list(VISITOR_PARAMS),
        ),
        security=("writeKey",),
    ),
    ("/v1/in-app", "OPTIONS"): Doc("CORS preflight", ("in-app",), page_preflight),
    ("/inapp.js", "GET"): Doc(
        "The in-app renderer tracker.js loads when messages are waiting", ("assets",), tracker_js
    ),
    ("/admin/in-app", "GET"): Doc(
        "In-app messages in force, with kind and priority", ("admin",), admin_read(), security=ADMIN
    ),
    ("/admin/in-app/{message_id}/archive", "POST"): Doc(
        "Archive an in-app message (it stops showing; its versions and report stay)",
        ("admin",),
        definitions_op(),
        security=ADMIN,
    ),
    ("/admin/in-app/{message_id}/report", "GET"): Doc(
        "Impressions, viewers, clicks and dismissals of one in-app message", ("admin",), admin_read(), security=ADMIN
    ),
    ("/admin/recommendations", "GET"): Doc(
        "A person's recommendations (by profile_id, anonymousId or userId)",
        ("admin",),
        admin_read([query_param("profile_id", "the profile"), *VISITOR_PARAMS]),
        security=ADMIN,
    ),
    ("/admin/recommendations/products/{product_id}", "GET"): Doc(
        "A product's similar-items list as stored, and its similar products", ("admin",), admin_read(), security=ADMIN
    ),
    ("/openapi.json", "GET"): Doc("This OpenAPI document", ("meta",), openapi_json),
    ("/admin/profiles/{profile_id}", "GET"): Doc(
        "A profile by id (follows merges)", ("admin",), admin("ProfileView", query=[EVENTS_PARAM]), security=ADMIN
    ),
    ("/admin/profiles", "GET"): Doc(
        "Find a profile by identity",
        ("admin",),
        admin(
            "ProfileView",
            query=[
                query_param("anonymous_id", "an anonymous id"),
                query_param("user_id", "a user id"),
                query_param("email", "an email address"),
                EVENTS_PARAM,
            ],
        ),
        security=ADMIN,
    ),
    ("/admin/failed-events", "GET"): Doc(
        "Failed events (bad rows) of one day, newest first",
        ("admin",),
        admin(
            "FailedEventsPage",
            query=[
                query_param("day", "YYYY-MM-DD (UTC); default today", format="date"),
                query_param("limit", "page size", type="integer", minimum=1, maximum=500),
                query_param("cursor", "`next_cursor` of the previous page"),
            ],
        ),
        security=ADMIN,
    ),
    ("/admin/sources", "POST"): Doc(
        "Create a source or rotate its write key",
        ("admin",),
        admin("SourceCreated", body="SourceRequest", created=True),
        security=ADMIN,
    ),
    (DEFINITIONS, "GET"): Doc(
        "Definitions of a kind in force: id, version, enabled, origin (file|stored)",
        ("admin",),
        definitions_op(),
        security=ADMIN,
    ),
    (DEFINITIONS + "/{definition_id}", "GET"): Doc(
        "One definition in force, with its body (ETag: its version)", ("admin",), definitions_op(), security=ADMIN
    ),
    (DEFINITIONS + "/{definition_id}", "PUT"): Doc(
        "Save a new version (the same JSON as the packaged file)",
        ("admin",),
        definitions_op(write=True),
        security=ADMIN,
    ),
    (DEFINITIONS + "/{definition_id}/enable", "POST"): Doc(
        "Enable a definition", ("admin",), definitions_op(write=True), security=ADMIN
    ),
    (DEFINITIONS + "/{definition_id}/disable", "POST"): Doc(
        "Disable a definition (a packaged one is stored disabled)",
        ("admin",),
        definitions_op(write=True),
        security=ADMIN,
    ),
    (DEFINITIONS + "/{definition_id}/versions", "GET"): Doc(
        "Stored versions of a definition, oldest first", ("admin",), definitions_op(), security=ADMIN
    ),
    (DEFINITIONS + "/{definition_id}/versions/{version}", "GET"): Doc(
        "One stored version with its body", ("admin",), definitions_op(), security=ADMIN
    ),
    (DEFINITIONS + "/{definition_id}/audit", "GET"): Doc(
        "Who changed a definition, when, to which version, and which JSON paths",
        ("admin",),
        definitions_op(),
        security=ADMIN,
    ),
}

SECURITY_SCHEMES: dict[str, Any] = {
    "writeKey": {
        "type": "http",
        "scheme": "basic",
        "description": "the source's write key as the username, empty password (or `writeKey` in the body)",
    },
    "adminIam": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "AWS SigV4 (IAM authorizer) in a deployed stage",
        "x-amazon-apigateway-authtype": "awsSigv4",
    },
    "localAdminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "the local stack only: `ONE2ONE_LOCAL_ADMIN_TOKEN`",
    },
}


# --- the generic path for routes nobody documented yet --------------------------------------------------------------


def generic(entry: Any) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    def build(path: str, params: dict[str, Any]) -> dict[str, Any]:
        # `default` promises nothing about status or content type (pages, redirects, GIFs...), so the fuzzer still
        # checks these routes for 5xx without failing on what nobody has described yet.
        out: dict[str, Any] = {
            "x-undocumented": True,
            "responses": {"default": {"description": "not described yet: see the route's module"}},
        }
        if entry.method in {"POST", "PUT", "PATCH"}:
            out["requestBody"] = {"content": {ct: {"schema": {}} for ct in entry.content_types or [JSON]}}
        return out

    return build


def describe(entry: Any) -> Doc:
    doc = inspect.getdoc(inspect.unwrap(entry.view_function)) or f"{entry.method} {entry.uri_pattern}"
    tag = entry.uri_pattern.strip("/").split("/")[0] or "root"
    security = ADMIN if entry.authorizer is not None else ()
    return Doc(doc.splitlines()[0], (tag,), generic(entry), security=security)


# --- assembling the document ----------------------------------------------------------------------------------------


def component_schemas() -> dict[str, Any]:
    from pydantic.json_schema import models_json_schema

    from chalicelib.api.schemas import ALL_MODELS

    _, top = models_json_schema([(m, "validation") for m in ALL_MODELS], ref_template=REF)
    return dict(sorted(top.get("$defs", {}).items()))


def operation(entry: Any, doc: Doc, path: str, params: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": doc.summary, "tags": list(doc.tags), "operationId": entry.view_name}
    op.update(doc.build(path, params))
    templated = [name for name in entry.view_args if name not in params]
    if templated:
        kinds = pixel_kinds() if entry.uri_pattern == "/v1/pixel/{kind}" else None
        path_params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "enum": kinds}}
            if kinds and name == "kind"
            else {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in templated
        ]
        op["parameters"] = path_params + op.get("parameters", [])
    if doc.security:
        op["security"] = [{name: []} for name in doc.security]
    if doc.security == ("writeKey",):
        op["security"].append({})  # or `writeKey` in the body: the header is optional
    op["x-chalice-route"] = entry.uri_pattern
    return op


def build_openapi(app: Any) -> dict[str, Any]:
    """The OpenAPI 3.1 document for every HTTP route of `app` (a Chalice app).

    Example
    -------
    >>> from app import app
    >>> sorted(build_openapi(app)["paths"])[:2]
    ['/admin/failed-events', '/admin/profiles']
    """
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for uri, methods in app.routes.items():
        for method, entry in methods.items():
            doc = KNOWN.get((uri, method)) or describe(entry)
            targets = doc.expand() if doc.expand else [(uri, {})]
            for path, params in targets:
                op = operation(entry, doc, path, params)
                if op["operationId"] in used_ids:  # one view serving two methods (GET and HEAD)
                    op["operationId"] = f"{op['operationId']}_{method.lower()}"
                used_ids.add(op["operationId"])
                paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": (
                "Segment-compatible tracking API (`/v1/*`, the pixel and the tracker) and the admin API. "
                "Every refusal is JSON with a machine code in `error`; storage outages answer 503 with Retry-After."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": component_schemas(), "securitySchemes": SECURITY_SCHEMES},
    }
