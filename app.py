"""The Chalice application: builds the app and registers blueprints, nothing else.

One codebase serves two REST APIs, each deployed as its own function with its own role (`make package` packages the
app twice and merges the second API into the template, see local/package.py): `ONE2ONE_API=public` (tracking, pixel,
tracker, links in mail, OpenAPI) is what browsers and mail clients reach; `ONE2ONE_API=admin` (every `/admin` route,
IAM-authorised) is what operators reach. A public function can therefore never read a profile, export or erase, even
through a bug in a route. Unset, the local stack and the tests serve both (and the local tools) on one port; a
Lambda with the variable unset serves the public routes only.
"""

import os
from importlib import import_module
from typing import Any

from chalice import Chalice

from chalicelib.api import function_url
from chalicelib.shared import observability

API = os.environ.get("ONE2ONE_API") or ("public" if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else "all")
# Modules (under chalicelib/) holding a Blueprint `bp`. Only the ones this function serves are imported: the public
# function and every stream/queue/schedule function (Lambda runs them all from this module) do not pay for importing
# the admin API and the console (~30 ms of cold start), and the admin function not for the public routes.
PUBLIC_BLUEPRINTS = (
    "api.tracking",
    "api.pixel",
    "api.assets",
    "api.openapi",
    "api.links",
    "api.subscribe_sms",
    "api.catalog",
    "api.personalize",
    "api.devices",
    "api.inapp",
)
LOCAL_BLUEPRINTS = ("api.local_tools",)  # the embedded outbox and clock: never part of a deployed API
ADMIN_BLUEPRINTS = (
    "api.admin",
    "api.admin_privacy",
    "api.admin_segments",
    "api.admin_scenarios",
    "api.admin_reports",
    "api.admin_backfills",
    "api.admin_definitions",
    "api.admin_catalog",
    "api.admin_recommendations",
    "api.admin_broadcasts",
    "api.console",  # the marketers' console: HTML pages under /admin/console
    "api.admin_imports",
    "api.admin_exports",
    "api.admin_archive",
    "api.admin_inapp",
)
EVENT_BLUEPRINTS = (
    "handlers.events_stream",
    "handlers.profiles_stream",
    "handlers.schedules",
    "handlers.scenarios_stream",
    "handlers.delivery",
    "handlers.ses_feedback",
    "handlers.backfill",
    "handlers.catalog",
    "handlers.audience",
    "handlers.imports",
    "handlers.exports",
    "handlers.archive",
    "handlers.segment_members_stream",
)


def _blueprint(module: str) -> Any:
    return import_module(f"chalicelib.{module}").bp


# configure_logs=False: Chalice would add a plain-text stdout handler to the `one2one` logger, beside Powertools' JSON
# one, so every warning and error was written twice, once as text Lambda's JSON log format cannot read a level from.
app = Chalice(app_name="one2one", configure_logs=False)
# The pixel GIF is binary; browsers and mail clients ask for images with "image/*" or "*/*".
app.api.binary_types.extend(["image/gif", "image/*"])

app.register_blueprint(observability.bp)  # middleware: correlation id, PII-masked logs, metrics
for blueprint in (
    *(PUBLIC_BLUEPRINTS if API in ("public", "all") else ()),
    *(ADMIN_BLUEPRINTS if API in ("admin", "all") else ()),
    *(LOCAL_BLUEPRINTS if API == "all" else ()),
    *EVENT_BLUEPRINTS,
):
    app.register_blueprint(_blueprint(blueprint))

# The public function's Lambda handler (local/package.py points `APIHandler` at it): a request to its function URL is
# matched to the tracking routes and translated to the REST event shape; API Gateway's events reach `app` unchanged.
public_handler = function_url.handler(app)
