"""The console's CloudFront viewer-request function (infra/resources.json `ConsoleViewerRequest`), run by Node on
the events CloudFront hands it: the ID token cookie becomes Authorization, a page without one goes to the sign-in,
an action without one is a 401 (the console's script keeps the edit), and everything else passes untouched."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"]["ConsoleViewerRequest"]["Properties"][
    "FunctionCode"
]


def run(uri: str, cookies: dict[str, str] | None = None) -> dict[str, Any]:
    if shutil.which("node") is None:
        pytest.skip("node is needed to run the CloudFront function")
    event = {
        "request": {
            "uri": uri,
            "method": "GET",
            "headers": {"host": {"value": "d111.cloudfront.net"}},
            "cookies": {k: {"value": v} for k, v in (cookies or {}).items()},
            "querystring": {},
        }
    }
    script = CODE + f"\nprocess.stdout.write(JSON.stringify(handler({json.dumps(event)})));"
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30, check=True)
    return dict(json.loads(done.stdout))


def test_a_signed_in_page_carries_the_id_token_to_the_authorizer() -> None:
    request = run("/admin/console/broadcasts", {"one2one_id": "h.p.s"})
    assert request["headers"]["authorization"] == {"value": "h.p.s"}
    assert request["headers"]["x-forwarded-host"] == {"value": "d111.cloudfront.net"}
    assert request["headers"]["x-one2one-edge"] == {"value": "1"}


def test_without_a_token_a_page_goes_to_the_sign_in_and_an_action_is_401() -> None:
    page = run("/admin/console/imports")
    assert page["statusCode"] == 302
    assert page["headers"]["location"]["value"] == "/admin/console/sign-in?next=%2Fadmin%2Fconsole%2Fimports"
    action = run("/admin/console/api/broadcasts")
    assert action["statusCode"] == 401 and "sign in again" in action["body"]["data"]


@pytest.mark.parametrize("uri", ["/admin/console/sign-in", "/admin/console/auth/callback", "/admin/console/sign-out"])
def test_the_way_in_needs_no_token(uri: str) -> None:
    request = run(uri)
    assert "statusCode" not in request and "authorization" not in request["headers"]


def test_the_root_opens_the_console_and_other_paths_pass_untouched() -> None:
    assert run("/")["headers"]["location"]["value"] == "/admin/console"
    for uri in ("/console-static/console.css", "/v1/track", "/admin/profiles/p1"):
        request = run(uri, {"one2one_id": "h.p.s"})
        assert request["uri"] == uri and set(request["headers"]) == {"host"}
