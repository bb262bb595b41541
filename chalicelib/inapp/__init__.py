"""In-app / on-site messages: banners, modals and inline cards fetched by pages and apps through one JSON route.

- `model`: `InAppMessage` (validated definition data, kind `in_app` in the definitions store), `parse_message`;
- `state`: one person's triggered messages, impressions, clicks and dismissals (`InAppState`);
- `rules`: eligibility (dates, targeting, caps, dismissal, priority);
- `service`: `InAppService` (the fetch, events folded back, a scenario step's delivery);
- `ports`: `InAppStateStore`, `ReportCounter`; `adapters/`: the StateTable adapter (bootstrap composes it).
"""

from chalicelib.inapp.model import InAppMessage, packaged_message_bodies, parse_message
from chalicelib.inapp.service import FEEDBACK_EVENTS, InAppService, build_messages, report_id
from chalicelib.inapp.state import InAppState, Triggered

__all__ = [
    "FEEDBACK_EVENTS",
    "InAppMessage",
    "InAppService",
    "InAppState",
    "Triggered",
    "build_messages",
    "packaged_message_bodies",
    "parse_message",
    "report_id",
]
