"""Export files in the export bucket: the CSV (one PUT, or a multipart upload over the chain's steps), the carry
objects between steps (`exports/.carry/`), and presigned download links."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.shared.aws import client

CSV = "text/csv; charset=utf-8"


class S3ExportFiles:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def _carry_key(self, export_id: str, step: int) -> str:
        return f"exports/.carry/{export_id}/{step:06d}"

    def put(self, key: str, body: bytes) -> None:
        client("s3").put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=CSV)

    def start_upload(self, key: str) -> str:
        return str(client("s3").create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=CSV)["UploadId"])

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        response = client("s3").upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return str(response["ETag"])

    def complete_upload(self, key: str, upload_id: str, etags: Iterable[str]) -> None:
        parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]
        client("s3").complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    def get_carry(self, export_id: str, step: int) -> bytes:
        body = client("s3").get_object(Bucket=self.bucket, Key=self._carry_key(export_id, step))["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def put_carry(self, export_id: str, step: int, body: bytes) -> None:
        client("s3").put_object(Bucket=self.bucket, Key=self._carry_key(export_id, step), Body=body)

    def delete_carry(self, export_id: str, step: int) -> None:
        client("s3").delete_object(Bucket=self.bucket, Key=self._carry_key(export_id, step))

    def download_url(self, key: str, expires_seconds: int) -> str:
        # Signed locally with the function's credentials (no AWS call); the link works while they and it are valid.
        filename = key.rsplit("/", 1)[-1]
        return str(
            client("s3").generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                },
                ExpiresIn=expires_seconds,
            )
        )
