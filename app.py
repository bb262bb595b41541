"""The Chalice application: builds the app and registers blueprints, nothing else."""

from chalice import Chalice

from chalicelib.api import (
    admin,
    admin_privacy,
    admin_reports,
    admin_scenarios,
    admin_segments,
    assets,
    links,
    local_tools,
    openapi,
    pixel,
    tracking,
)
from chalicelib.handlers import delivery, events_stream, profiles_stream, scenarios_stream, schedules, ses_feedback
from chalicelib.shared import observability

app = Chalice(app_name="one2one")
# The pixel GIF is binary; browsers and mail clients ask for images with "image/*" or "*/*".
app.api.binary_types.extend(["image/gif", "image/*"])

app.register_blueprint(observability.bp)  # middleware: correlation id, PII-masked logs, metrics
app.register_blueprint(tracking.bp)
app.register_blueprint(pixel.bp)
app.register_blueprint(assets.bp)
app.register_blueprint(admin.bp)
app.register_blueprint(admin_privacy.bp)
app.register_blueprint(openapi.bp)
app.register_blueprint(events_stream.bp)
app.register_blueprint(admin_segments.bp)
app.register_blueprint(profiles_stream.bp)
app.register_blueprint(schedules.bp)
app.register_blueprint(scenarios_stream.bp)
app.register_blueprint(delivery.bp)
app.register_blueprint(admin_scenarios.bp)
app.register_blueprint(local_tools.bp)
app.register_blueprint(links.bp)  # issue 5: open pixel, click redirect, unsubscribe, preferences
app.register_blueprint(admin_reports.bp)
app.register_blueprint(ses_feedback.bp)
