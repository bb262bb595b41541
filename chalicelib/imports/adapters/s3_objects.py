"""Import files in the S3 import bucket: ranged, streamed reads (a worker never holds more than a piece)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

from chalicelib.imports.ports import ImportFileUnreadable, ObjectInfo
from chalicelib.shared.aws import client

PIECE_BYTES = 1024 * 1024


class S3ImportObjects:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def head(self, key: str) -> ObjectInfo | None:
        s3 = client("s3")
        try:
            head = s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        checksum = head.get("ChecksumSHA256")
        fingerprint = (
            f"sha256:{checksum}" if checksum and "-" not in checksum else f"etag:{head['ETag'].strip(chr(34))}"
        )
        return ObjectInfo(key, int(head["ContentLength"]), fingerprint)

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if end is not None and end <= start:
            return
        byte_range = f"bytes={start}-" + (str(end - 1) if end is not None else "")
        s3 = client("s3")
        try:
            body = s3.get_object(Bucket=self.bucket, Key=key, Range=byte_range)["Body"]
        except s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise ImportFileUnreadable("file_gone", f"{key!r} was deleted from the import bucket") from None
            raise
        try:
            yield from body.iter_chunks(PIECE_BYTES)
        finally:
            body.close()

    def put(self, key: str, body: bytes) -> None:
        checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
        client("s3").put_object(Bucket=self.bucket, Key=key, Body=body, ChecksumSHA256=checksum)
