"""The Chalice application: builds the app and registers blueprints, nothing else.

One codebase serves two REST APIs, each deployed as its own function with its own role (`make package` packages the
app twice and merges the second API into the template, see local/package.py): `ONE2ONE_API=public` (tracking, pixel,
tracker, links in mail, OpenAPI) is what browsers and mail clients reach; `ONE2ONE_API=admin` (every `/admin` route,
IAM-authorised) is what operators reach. A public function can therefore never read a profile, export or erase, even
through a bug in a route. Unset, the local stack and the tests serve both (and the local tools) on one port; a
Lambda with the variable unset serves the public routes only.
"""

import os

from chalice import Chalice

from chalicelib.api import (
    admin,
    admin_backfills,
    admin_broadcasts,
    admin_catalog,
    admin_definitions,
    admin_imports,
    admin_privacy,
    admin_recommendations,
    admin_reports,
    admin_scenarios,
    admin_segments,
    assets,
    catalog,
    console,
    links,
    local_tools,
    openapi,
    personalize,
    pixel,
    subscribe_sms,
    tracking,
)
from chalicelib.handlers import (
    audience,
    backfill,
    delivery,
    events_stream,
    imports,
    profiles_stream,
    scenarios_stream,
    schedules,
    ses_feedback,
)
from chalicelib.handlers import catalog as catalog_handlers
from chalicelib.shared import observability

API = os.environ.get("ONE2ONE_API") or ("public" if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else "all")
PUBLIC_BLUEPRINTS = (
    tracking.bp,
    pixel.bp,
    assets.bp,
    openapi.bp,
    links.bp,
    subscribe_sms.bp,
    catalog.bp,
    personalize.bp,
)
LOCAL_BLUEPRINTS = (local_tools.bp,)  # the embedded outbox and clock: never part of a deployed API
ADMIN_BLUEPRINTS = (
    admin.bp,
    admin_privacy.bp,
    admin_segments.bp,
    admin_scenarios.bp,
    admin_reports.bp,
    admin_backfills.bp,
    admin_definitions.bp,
    admin_catalog.bp,
    admin_recommendations.bp,
    admin_broadcasts.bp,
    console.bp,  # the marketers' console: HTML pages under /admin/console
    admin_imports.bp,
)
EVENT_BLUEPRINTS = (
    events_stream.bp,
    profiles_stream.bp,
    schedules.bp,
    scenarios_stream.bp,
    delivery.bp,
    ses_feedback.bp,
    backfill.bp,
    catalog_handlers.bp,
    audience.bp,
    imports.bp,
)

app = Chalice(app_name="one2one")
# The pixel GIF is binary; browsers and mail clients ask for images with "image/*" or "*/*".
app.api.binary_types.extend(["image/gif", "image/*"])

app.register_blueprint(observability.bp)  # middleware: correlation id, PII-masked logs, metrics
for blueprint in (
    *(PUBLIC_BLUEPRINTS if API in ("public", "all") else ()),
    *(ADMIN_BLUEPRINTS if API in ("admin", "all") else ()),
    *(LOCAL_BLUEPRINTS if API == "all" else ()),
    *EVENT_BLUEPRINTS,
):
    app.register_blueprint(blueprint)
