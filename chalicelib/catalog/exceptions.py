"""What the catalog wing raises: a product that cannot be stored, and an upload that cannot be read at all."""

from __future__ import annotations


class ProductError(ValueError):
    """One product refused: `field` names what is wrong (`price`, `variants[0].stock`, ...), `reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def to_dict(self) -> dict[str, str]:
        return {"error": "invalid_product", "field": self.field, "message": self.reason}


class UploadError(ValueError):
    """A bulk upload refused as a whole (unknown format, unknown CSV column, nothing readable)."""
