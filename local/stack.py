"""`make run`: the whole product on one machine, with no AWS account: moto server + Chalice local + the event pump.

    python -m local.stack          # PORT (8000), MOTO_PORT (free port), HOST (127.0.0.1); Ctrl-C stops

Data survives a restart: the tables are saved to `.local-state/` (ONE2ONE_LOCAL_STATE: another directory, or `off`
for a stack that starts empty and keeps nothing) every 30 s and on stop, and loaded on the next start (local/state.py).

Tests use `start_stack(port=0)`, which returns a `Stack` to `.stop()`.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import signal
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer

from local import state
from local.provision import ROOT, provision
from local.pump import StreamPump
from local.state import SNAPSHOT_SECONDS

log = logging.getLogger(__name__)

DEMO_DIR = ROOT / "local" / "demo"
STATE_DIR = ROOT / ".local-state"
STATE_FILE = "tables.json"
DEFAULT_ADMIN_TOKEN = "local-admin-token"  # noqa: S105 - a documented local-only default, never deployed
DEFAULT_WRITE_KEY = "local-dev-key"
DEFAULT_SERVER_KEY = "local-server-key"  # noqa: S105 - a documented local-only default, never deployed
DEMO_TOKEN_PATH = "/demo/api/identity-token"  # noqa: S105 - a path
# Defaults for settings the app needs locally; a value already in the environment wins.
LOCAL_DEFAULTS = {
    "ONE2ONE_LOCAL_ADMIN_TOKEN": DEFAULT_ADMIN_TOKEN,
    "ONE2ONE_LOCAL_TOOLS": "1",  # /local/outbox and /local/clock/* routes
    "ONE2ONE_API": "all",  # the public and the admin API on one port (deployed, they are two functions: see app.py)
    # The demo source's identity secret: the demo backend (DEMO_TOKEN_PATH) signs identity tokens with it.
    "ONE2ONE_LOCAL_IDENTITY_SECRET": "local-identity-secret-for-the-demo-shop-only",  # noqa: S105 - local only
    "ONE2ONE_SIGNING_KEY": "local-signing-key",  # noqa: S105 - signs unsubscribe links on this machine only
}
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # botocore's account-based DynamoDB endpoints are not routed by moto.
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


class LocalRequestHandler(ChaliceRequestHandler):
    """Chalice's local handler plus the static demo shop under `/demo/`; every other path goes to the app.

    Chalice local serves app routes only; wrapping its handler keeps one origin for the demo shop and the API (as a
    CloudFront distribution would in front of the real deployment), so the tracker needs no CORS locally.
    """

    demo_dir: Path = DEMO_DIR

    def _generic_handle(self) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == DEMO_TOKEN_PATH and self.command == "POST":
            self._mint_identity_token()
        elif path == "/demo" or path.startswith("/demo/"):
            self._serve_demo(path)
        else:
            super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def log_message(self, fmt: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), fmt % args)

    def _mint_identity_token(self) -> None:
        """The demo shop's backend: what a real shop does once a customer signs in — vouch for their userId with an
        identity token signed with the source's identity secret (tracking/trust.py), for the page to hand the tracker.
        """
        import json

        import jwt

        length = int(self.headers.get("Content-Length") or 0)
        try:
            user_id = json.loads(self.rfile.read(min(length, 4096)) or b"{}").get("userId")
        except (ValueError, AttributeError):
            user_id = None
        if not isinstance(user_id, str) or not user_id or len(user_id) > 256:
            error = b'{"error":"userId required"}'
            return self._reply(HTTPStatus.BAD_REQUEST, error, {"Content-Type": "application/json"})
        from chalicelib.shared.clock import get_clock

        now = int(get_clock().now().timestamp())  # the stack's clock: tokens stay valid when it is moved forward
        claims = {"sub": user_id, "aud": "local", "iat": now, "exp": now + 3600}
        token = jwt.encode(claims, os.environ["ONE2ONE_LOCAL_IDENTITY_SECRET"], algorithm="HS256")
        body = json.dumps({"identityToken": token}).encode()
        self._reply(HTTPStatus.OK, body, {"Content-Type": "application/json", "Cache-Control": "no-store"})

    def _serve_demo(self, path: str) -> None:
        if path == "/demo":
            return self._reply(HTTPStatus.MOVED_PERMANENTLY, b"", {"Location": "/demo/"})
        root = self.demo_dir.resolve()
        target = (root / path.removeprefix("/demo/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(root) or not target.is_file():  # no escaping the demo folder with ../
            return self._reply(HTTPStatus.NOT_FOUND, b"not found\n", {"Content-Type": "text/plain"})
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        self._reply(HTTPStatus.OK, target.read_bytes(), {"Content-Type": content_type, "Cache-Control": "no-store"})

    def _reply(self, status: HTTPStatus, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


@dataclass
class Stack:
    """A running local stack; `stop()` shuts everything down and restores the environment it changed."""

    api_url: str
    moto_url: str
    write_key: str
    admin_token: str
    server_key: str
    pump: StreamPump
    _moto: Any
    _server: LocalDevServer
    _stop: threading.Event
    _threads: list[threading.Thread]
    _saved_environ: dict[str, str | None] = field(default_factory=dict)
    _saved_clock: Any = None
    state_path: Path | None = None  # where the tables are saved (None: in memory only)
    restored_items: int = 0

    def urls(self) -> dict[str, str]:
        bearer = f'-H "Authorization: Bearer {self.admin_token}"'
        return {
            "API": self.api_url,
            "tracker.js": f"{self.api_url}/tracker.js",
            "demo shop": f"{self.api_url}/demo/",
            "console": f"{self.api_url}/admin/console  (sign in with the admin token: {self.admin_token})",
            "admin API": f'curl {bearer} "{self.api_url}/admin/profiles?anonymous_id=<id>"',
            "failed events": f"curl {bearer} {self.api_url}/admin/failed-events",
            "outbox": f"{self.api_url}/local/outbox?token={self.admin_token}  (emails and texts sent through moto)",
            "clock": f"curl {bearer} -X POST -d '{{\"days\": 1}}' {self.api_url}/local/clock/advance",
            "moto": f"{self.moto_url}  (dashboard: {self.moto_url}/moto-api/)",
            "write key": f"{self.write_key}  (browsers: a client source; the demo backend mints identity tokens)",
            "server key": f"{self.server_key}  (backend SDKs and scripts: a server source)",
            "data": (
                f"{self.state_path.parent}  ({self.restored_items} items restored; saved every"
                f" {SNAPSHOT_SECONDS} s and on stop; ONE2ONE_LOCAL_STATE=off to keep nothing)"
                if self.state_path
                else "in memory only: everything is gone when the stack stops"
            ),
        }

    def save_state(self) -> int:
        """Snapshot every table to `state_path` (no-op without one). Returns the number of items saved."""
        if self.state_path is None:
            return 0
        from chalicelib.shared.aws import client
        from chalicelib.shared.clock import get_clock

        lead = get_clock().now() - datetime.now(UTC)
        return state.save(client("dynamodb"), _table_names(), self.state_path, max(lead, timedelta(0)))

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        try:
            saved_items = self.save_state()
            if self.state_path is not None:
                log.info("local stack: %d items saved to %s", saved_items, self.state_path)
        except Exception:  # noqa: BLE001 - stopping must not fail; the last periodic snapshot is still there
            log.exception("local stack: the final snapshot failed")
        self._moto.stop()
        _restore_environ(self._saved_environ)
        from chalicelib.shared import clock

        clock.set_clock(self._saved_clock)
        _reset_app_caches()
        log.info("local stack stopped")


def _reset_app_caches() -> None:
    from chalicelib import bootstrap
    from chalicelib.shared import aws, settings

    aws.reset_clients()
    reset = getattr(bootstrap, "reset", None)
    if reset is not None:
        reset()
    settings.get_settings.cache_clear()


def _set_environ(values: dict[str, str], saved: dict[str, str | None]) -> None:
    for key, value in values.items():
        saved.setdefault(key, os.environ.get(key))
        os.environ[key] = value


def _restore_environ(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _seed_source(write_key: str, origins: list[str]) -> None:
    """Two sources: `local`, the demo shop's browser key (a client source: its userIds, addresses, consent and orders
    count only with an identity token, which the demo backend mints), and `local-server`, a server key for backend
    SDKs and scripts (ONE2ONE_LOCAL_SERVER_KEY)."""
    try:
        from chalicelib.bootstrap import get_source_registry
        from chalicelib.tracking.sources import SourceSettings

        registry = get_source_registry()
        demo = registry.upsert_source(
            source_id="local",
            write_key=write_key,
            allowed_origins=origins,
            kind="client",
            identity_secret=os.environ["ONE2ONE_LOCAL_IDENTITY_SECRET"],
        )
        # The demo shop lives under /demo/: mail cards and the cart reminder link back there (click-tracked).
        shop = f"{origins[0]}/demo/"
        registry.save(demo.model_copy(update={"settings": SourceSettings(shop_url=shop, cart_url=f"{shop}#cart")}))
        registry.upsert_source(
            source_id="local-server",
            write_key=os.environ.get("ONE2ONE_LOCAL_SERVER_KEY", DEFAULT_SERVER_KEY),
            allowed_origins=[],
            kind="server",
        )
    except (ImportError, AttributeError) as error:
        log.warning("could not seed the local sources yet (%s): tracking calls will be refused", error)


DEMO_CATALOG = (
    ("p-100", "TEE-BLU-M", "Blue Tee", 19.0, "Apparel"),
    ("p-101", "MUG-CER-01", "Ceramic Mug", 12.5, "Kitchen"),
    ("p-102", "SHOE-TRL-42", "Trail Shoes", 89.0, "Footwear"),
    ("p-103", "BAG-CNV-01", "Canvas Backpack", 54.0, "Bags"),
    ("p-104", "PLT-DSK-01", "Desk Plant", 15.0, "Home"),
    ("p-105", "SUN-POL-01", "Polarized Sunglasses", 39.0, "Accessories"),
)


def _seed_catalog(api_url: str) -> None:
    """The demo shop's products, 10 of each in stock. Dated in the past, so a product the back office changed since
    (a restored state) is left as it is: the seed is stale against it."""
    try:
        from chalicelib.bootstrap import get_catalog_service

        service = get_catalog_service()
        for product_id, sku, name, price, category in DEMO_CATALOG:
            product = {"id": product_id, "sku": sku, "name": name, "price": price, "currency": "EUR"}
            product |= {"category": category, "stock": 10, "url": f"{api_url}/demo/#{product_id}"}
            service.upsert({**product, "updated_at": "2026-01-01T00:00:00Z"})
    except Exception as error:  # noqa: BLE001 - the stack still runs without the demo catalog
        log.warning("could not seed the demo catalog (%s)", error)


def _verify_sender() -> None:
    """moto's SES refuses unverified senders, as SES in the sandbox does: verify the domain of the configured sender."""
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import get_settings

    sender = getattr(get_settings(), "email_from", "") or ""
    domain = sender.rpartition("@")[2]
    if not domain:
        return
    try:
        client("sesv2").create_email_identity(EmailIdentity=domain)
    except Exception as error:  # already verified, or an SES API moto lacks: the stack still runs without email
        log.info("SES identity %s not created: %s", domain, error)


def start_stack(
    port: int | None = None,
    host: str | None = None,
    moto_port: int | None = None,
    stage: str = "dev",
    pump_interval: float = 0.1,
    state_dir: Path | None = None,
) -> Stack:
    """Start moto, provision infra/resources.json, seed a source, serve the app and pump its events.

    Parameters
    ----------
    port: HTTP port of the API (0 = any free port; default `PORT` or 8000).
    host: interface to bind (default `HOST` or 127.0.0.1).
    moto_port: port of the moto server (default `MOTO_PORT` or a free port).
    stage: the `.chalice/config.json` stage whose environment variables the app sees.
    state_dir: where the tables are saved and restored from (None, the default for tests: in memory only).

    Example
    -------
    >>> stack = start_stack(port=0)
    >>> urllib.request.urlopen(f"{stack.api_url}/tracker.js")
    >>> stack.stop()
    """
    from chalice.cli.factory import CLIFactory
    from moto.server import ThreadedMotoServer

    host = host or os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000")) if port is None else port
    moto_port = int(os.environ.get("MOTO_PORT", "0")) if moto_port is None else moto_port
    saved: dict[str, str | None] = {}

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    moto_host, bound_moto_port = moto.get_host_and_port()
    moto_url = f"http://{moto_host}:{bound_moto_port}"
    try:
        config = CLIFactory(project_dir=str(ROOT)).create_config_obj(chalice_stage_name=stage)
        _set_environ(
            {
                **FAKE_CREDENTIALS,
                **{k: str(v) for k, v in config.environment_variables.items()},
                "AWS_ENDPOINT_URL": moto_url,
                "ONE2ONE_MOTO_URL": moto_url,
                **{key: os.environ.get(key, default) for key, default in LOCAL_DEFAULTS.items()},
            },
            saved,
        )
        from chalicelib.shared import clock

        saved_clock = clock.get_clock()
        clock.set_clock(clock.FakeClock())  # real time until someone advances it (POST /local/clock/advance)
        _reset_app_caches()
        provision(endpoint_url=moto_url, region=os.environ["AWS_DEFAULT_REGION"])

        from app import app

        if not isinstance(app, LocalChalice):  # what chalice.local.create_local_server does, once per process
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        server = LocalDevServer(app, config, host, port, handler_cls=LocalRequestHandler)
        bound_port = server.server.server_address[1]
        api_url = f"http://{host}:{bound_port}"
        # Links in emails (unsubscribe, click tracking) must point at this server.
        _set_environ({"PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", api_url)}, saved)
        # The demo shop's products link to its pages on this server: the catalog accepts URLs on these sites.
        sites = f"{api_url},http://localhost:{bound_port}"
        _set_environ({"ONE2ONE_CATALOG_HOSTS": os.environ.get("ONE2ONE_CATALOG_HOSTS", sites)}, saved)
        _reset_app_caches()
        _verify_sender()

        write_key = os.environ.get("ONE2ONE_LOCAL_WRITE_KEY", DEFAULT_WRITE_KEY)
        _seed_source(write_key, [f"http://127.0.0.1:{bound_port}", f"http://localhost:{bound_port}"])
        _seed_catalog(api_url)
    except BaseException:
        moto.stop()
        _restore_environ(saved)
        raise

    pump = StreamPump(app, endpoint_url=moto_url, stage=stage, ses_events=True)
    state_path = state_dir / STATE_FILE if state_dir is not None else None
    restored = 0
    if state_path is not None:
        from chalicelib.shared.aws import client

        restored, clock_lead = state.load(client("dynamodb"), _table_names(), state_path)
        pump.skip_existing_records()  # restored INSERTs were folded, counted and sent before the restart
        if clock_lead > timedelta(0):
            clock.get_clock().advance(clock_lead)  # type: ignore[attr-defined]  # the stack's FakeClock
    stop = threading.Event()
    threads = [
        threading.Thread(target=server.server.serve_forever, name="one2one-http", daemon=True),
        threading.Thread(target=pump.run_forever, args=(stop, pump_interval), name="one2one-pump", daemon=True),
    ]
    for thread in threads:
        thread.start()
    stack = Stack(
        api_url=api_url,
        moto_url=moto_url,
        write_key=write_key,
        admin_token=os.environ["ONE2ONE_LOCAL_ADMIN_TOKEN"],
        server_key=os.environ.get("ONE2ONE_LOCAL_SERVER_KEY", DEFAULT_SERVER_KEY),
        pump=pump,
        _moto=moto,
        _server=server,
        _stop=stop,
        _threads=threads,
        _saved_environ=saved,
        _saved_clock=saved_clock,
        state_path=state_path,
        restored_items=restored,
    )
    if state_path is not None:
        snapshots = threading.Thread(target=_snapshot_forever, args=(stack, stop), name="one2one-state", daemon=True)
        snapshots.start()
        stack._threads.append(snapshots)
    return stack


def _table_names() -> list[str]:
    from chalicelib.shared.settings import TABLES, table_name

    return [table_name(logical_id) for logical_id in TABLES]


def _snapshot_forever(stack: Stack, stop: threading.Event) -> None:
    while not stop.wait(SNAPSHOT_SECONDS):
        try:
            stack.save_state()
        except Exception:  # noqa: BLE001 - a failed snapshot is retried next time; the stack keeps serving
            log.exception("local stack: snapshot failed")


def state_dir_from_environment() -> Path | None:
    """`.local-state/` unless ONE2ONE_LOCAL_STATE names another directory or is `off`."""
    setting = os.environ.get("ONE2ONE_LOCAL_STATE", "").strip()
    if setting.lower() in ("off", "0", "false", "none"):
        return None
    return Path(setting) if setting else STATE_DIR


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log would drown the app's
    stack = start_stack(state_dir=state_dir_from_environment())
    width = max(len(k) for k in stack.urls())
    print("\none2one local stack is up\n")
    for name, url in stack.urls().items():
        print(f"  {name:<{width}}  {url}")
    print("\nCtrl-C to stop.\n", flush=True)
    # Explicit handlers: SIGINT may arrive ignored (started in the background) and `docker stop`/CI send SIGTERM.
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    try:
        while not stop_requested.wait(0.5):
            pass
        print("\nstopping...", flush=True)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
