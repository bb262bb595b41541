"""Global Privacy Control is overridden only by a recorded consent to tracking, never by a strictly-necessary one."""

from __future__ import annotations

import pytest

from chalicelib.tracking.ingest import site_consented


@pytest.mark.parametrize(
    ("consent", "overrides_gpc"),
    [
        ({"granted": True}, True),
        ({"categoryPreferences": {"Analytics": True}}, True),
        ({"categoryPreferences": {"marketing_and_analytics": True, "necessary": True}}, True),
        ({"categoryPreferences": {"Advertising": True}}, True),
        ({"categoryPreferences": {"necessary": True}}, False),
        ({"categoryPreferences": {"Strictly Necessary": True, "Functional": True, "Preferences": True}}, False),
        ({"categoryPreferences": {"analytics": False, "necessary": True}}, False),
        ({"categoryPreferences": "yes"}, False),
        ("granted", False),
    ],
)
def test_only_a_consent_to_tracking_overrides_gpc(consent: object, overrides_gpc: bool) -> None:
    assert site_consented({"consent": consent}) is overrides_gpc
