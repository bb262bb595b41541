"""Segments outside the fold: membership items and sizes kept from the profiles stream, and who is in a segment.

Membership itself is decided at fold time (`profiles.segmentation`); this wing copies it where it can be listed and
counted. `ports.SegmentStore` is the storage it needs; `adapters.dynamodb_segments` is its DynamoDB implementation.
"""

from chalicelib.segments.membership import SegmentMembershipService
from chalicelib.segments.ports import CustomerRow, SegmentStore

__all__ = ["CustomerRow", "SegmentMembershipService", "SegmentStore"]
