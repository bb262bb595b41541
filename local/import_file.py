"""`make import FILE=... KIND=people|orders|events|pinpoint_endpoints|pinpoint_segment [SEGMENT=id]`: import a file
into the running local stack (`make run`) through its admin API, with a progress bar until the import finishes.

    python -m local.import_file customers.csv people [--segment id] [--url http://127.0.0.1:8000] [--token ...]

Files up to 10 MB are uploaded as the request body; a larger one is put into the stack's import bucket (its moto
server: `--moto-url`, default ONE2ONE_MOTO_URL) and imported by key, as `aws s3 cp` into the deployed bucket would.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

MAX_UPLOAD = 10 * 1024 * 1024
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


def _format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    base = FORMATS.get(suffixes[-2] if compressed and len(suffixes) > 1 else (suffixes[-1] if suffixes else ""))
    if base is None:
        return "gz" if compressed else "csv"
    return base + (".gz" if compressed else "")


def _call(url: str, token: str, method: str = "GET", body: bytes | None = None, content_type: str = "") -> Any:
    if not url.startswith(("http://", "https://")):
        raise SystemExit(f"--url must be http(s): {url}")
    request = urllib.request.Request(url, data=body, method=method, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - a URL the operator gave
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise SystemExit(f"import refused ({exc.code}): {detail}") from None


def bar(view: dict[str, Any], width: int = 30) -> str:
    done = int(view.get("progress", 0) * width)
    chunks = view.get("chunks", {})
    return (
        f"\r[{'#' * done}{'-' * (width - done)}] {view.get('progress', 0) * 100:5.1f}% "
        f"chunks {chunks.get('done', 0)}/{chunks.get('total', 0)}  rows ok {view.get('rows_accepted', 0)}  "
        f"rejected {view.get('rows_rejected', 0)}  {view.get('status', '')}   "
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("kind")
    parser.add_argument("--segment", default="")
    parser.add_argument(
        "--url", default=os.environ.get("ONE2ONE_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")
    )
    parser.add_argument("--token", default=os.environ.get("ONE2ONE_LOCAL_ADMIN_TOKEN", "local-admin-token"))
    parser.add_argument("--moto-url", default=os.environ.get("ONE2ONE_MOTO_URL", ""))
    args = parser.parse_args(argv)
    path: Path = args.file
    if not path.is_file():
        raise SystemExit(f"no file {path}")
    base = args.url.rstrip("/")
    if path.stat().st_size <= MAX_UPLOAD:
        query = f"kind={args.kind}&format={_format(path)}" + (f"&segment={args.segment}" if args.segment else "")
        view = _call(f"{base}/admin/imports?{query}", args.token, "POST", path.read_bytes(), "application/octet-stream")
    else:
        if not args.moto_url:
            raise SystemExit("files over 10 MB go through the bucket: pass --moto-url (the stack prints it)")
        import boto3

        from chalicelib.shared.settings import resource_name

        folder = f"pinpoint/segments/{args.segment}" if args.kind == "pinpoint_segment" else args.kind
        key = f"{folder.replace('pinpoint_endpoints', 'pinpoint/endpoints')}/{path.name}"
        boto3.client("s3", endpoint_url=args.moto_url, region_name="us-east-1").upload_file(
            str(path), resource_name("ImportBucket"), key
        )
        body = json.dumps({"key": key, "kind": args.kind, "segment": args.segment or None}).encode()
        view = _call(f"{base}/admin/imports", args.token, "POST", body, "application/json")
    import_id = view["import_id"]
    print(f"import {import_id} ({'new' if view.get('created') else 'already imported'})")
    while True:
        sys.stdout.write(bar(view))
        sys.stdout.flush()
        if view.get("finished_at") or view.get("status") == "failed":
            break
        time.sleep(0.5)
        view = _call(f"{base}/admin/imports/{import_id}", args.token)
    print()
    for row in view.get("rejected", [])[:20]:
        print(f"  line {row['line']}: {row.get('error')}: {row.get('message')}")
    if view.get("notices"):
        print(f"  notices: {view['notices']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
