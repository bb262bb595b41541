"""The Chalice application: builds the app and registers blueprints, nothing else."""

from chalice import Chalice

from chalicelib.api import admin, admin_privacy, assets, openapi, pixel, tracking
from chalicelib.handlers import events_stream

app = Chalice(app_name="one2one")
# The pixel GIF is binary; browsers and mail clients ask for images with "image/*" or "*/*".
app.api.binary_types.extend(["image/gif", "image/*"])

app.register_blueprint(tracking.bp)
app.register_blueprint(pixel.bp)
app.register_blueprint(assets.bp)
app.register_blueprint(admin.bp)
app.register_blueprint(admin_privacy.bp)
app.register_blueprint(openapi.bp)
app.register_blueprint(events_stream.bp)
