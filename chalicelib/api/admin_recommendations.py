"""Admin API for recommendations: what a person would be shown, and a product's similar-items list as stored."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.admin import admin_only, iam
from chalicelib.api.http import json_response

bp = Blueprint(__name__)


@bp.route("/admin/recommendations", methods=["GET"], authorizer=iam)
@admin_only
def person_recommendations() -> Response:
    """`?profile_id=` or `?anonymousId=` / `?userId=`, `&limit=` (1-20, default 10)."""
    from chalicelib.bootstrap import get_personalization_service, get_profile_store
    from chalicelib.profiles.redirects import follow_merges

    query = dict(bp.current_request.query_params or {})
    raw = query.get("limit", "10")
    if not raw.isdigit() or not 1 <= int(raw) <= 20:
        return json_response(400, {"error": "invalid_parameter", "message": "limit: 1 to 20", "field": "limit"})
    service = get_personalization_service()
    if query.get("profile_id"):
        profile_id, stored = follow_merges(get_profile_store(), query["profile_id"])
        if stored is None or stored.erased:
            return json_response(404, {"error": "not_found", "message": f"profile {query['profile_id']} not found"})
        items = service.recommend_document(stored.document(), int(raw))
        return json_response(200, {"profile_id": profile_id, "items": items})
    if not query.get("anonymousId") and not query.get("userId"):
        message = "give profile_id, anonymousId or userId"
        return json_response(400, {"error": "invalid_parameter", "message": message, "field": "profile_id"})
    return json_response(200, service.recommend(query.get("anonymousId"), query.get("userId"), int(raw)))


@bp.route("/admin/recommendations/products/{product_id}", methods=["GET"], authorizer=iam)
@admin_only
def product_list(product_id: str) -> Response:
    """The stored similar-items list of one product (counts, neighbour cards) and its recommendations."""
    from chalicelib.bootstrap import get_recommendation_service
    from chalicelib.recommendations.similarity import similar_key

    service = get_recommendation_service()
    stored = service.store.read([similar_key(product_id)]).get(similar_key(product_id))
    if stored is None:
        return json_response(404, {"error": "not_found", "message": f"no similar items learnt for {product_id}"})
    return json_response(
        200, {"product_id": product_id, "list": stored, "similar": service.related([product_id], set(), limit=10)}
    )


@bp.route("/admin/recommendations/learn", methods=["POST"], authorizer=iam)
@admin_only
def learn_now() -> Response:
    """Run the nightly similar-items job now (it also runs after the archive's compaction): every complete archive
    day not learnt yet, each list once per day. Body (optional): `{"since": "YYYY-MM-DD"}`, the first day of the first
    run (default: yesterday), 409 once the job has run. Returns `{"days", "events", "skipped", "lists_touched",
    "lists_written", "waiting_for"}`; `waiting_for` names a day not compacted yet (learnt after its compaction)."""
    import time
    from datetime import date

    from chalicelib.bootstrap import get_similar_items_learning
    from chalicelib.recommendations import AlreadyLearnt
    from chalicelib.shared.clock import get_clock

    now = get_clock().now()
    request = bp.current_request
    try:
        body = request.json_body if (request.raw_body or b"").strip() else {}
    except Exception:  # noqa: BLE001 - chalice raises its own BadRequestError on bad JSON
        body = None
    if not isinstance(body, dict):
        return json_response(400, {"error": "invalid_json", "message": "the body must be a JSON object, or none"})
    since = None
    if body.get("since") is not None:
        raw = body["since"]
        try:
            since = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            since = None
        if since is None or since >= now.date():
            message = "since: a past day, YYYY-MM-DD"
            return json_response(400, {"error": "invalid_parameter", "message": message, "field": "since"})
    deadline = time.monotonic() + LEARN_BUDGET_SECONDS  # the API's own timeout: the rest is learnt on the next run
    try:
        report = get_similar_items_learning().run(now, deadline, since)
    except AlreadyLearnt as error:
        return json_response(409, {"error": "conflict", "message": str(error), "field": "since"})
    return json_response(200, report.as_dict())


LEARN_BUDGET_SECONDS = 20.0
