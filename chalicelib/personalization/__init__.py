"""Personalisation: page slots chosen by rules over the profile, with recommendations, for the public API.

- `slots`: the slot definitions as validated data (`config/slots.json`, its JSON Schema);
- `service`: `PersonalizationService` (the visitor's profile with one read, slots chosen, recommendations).
"""

from chalicelib.personalization.service import PersonalizationService, Visitor
from chalicelib.personalization.slots import Slot, SlotConfigError, load_slots, parse_slots

__all__ = ["PersonalizationService", "Slot", "SlotConfigError", "Visitor", "load_slots", "parse_slots"]
