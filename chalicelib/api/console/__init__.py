"""The marketers' console: server-rendered pages under /admin/console on the admin API (see routes.py)."""

from chalicelib.api.console.routes import bp

__all__ = ["bp"]
