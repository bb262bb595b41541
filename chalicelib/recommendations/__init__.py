"""Recommendations: item-to-item similarity learnt incrementally from views and orders, popularity fallbacks.

- `similarity`: pure rules (which bounded lists an event updates, Space-Saving merge, ranking for a person);
- `ports`: `SimilarItemsStore` (one item per list), `Availability` (the catalog's port for stock);
- `service`: `RecommendationService` (learn on the profiles stream's scenario consumer; rank for the API,
  personalisation and the `related_products` template need).
"""

from chalicelib.recommendations.ports import Availability, CardsSayStock, SimilarItemsStore
from chalicelib.recommendations.service import RecommendationService
from chalicelib.recommendations.similarity import Card, Delta, Person, person_of

__all__ = [
    "Availability",
    "Card",
    "CardsSayStock",
    "Delta",
    "Person",
    "RecommendationService",
    "SimilarItemsStore",
    "person_of",
]
