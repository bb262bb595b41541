"""Recommendations: item-to-item similarity learnt nightly from the event archive, popularity fallbacks.

- `similarity`: pure rules (which bounded lists an event updates, Space-Saving merge, ranking for a person);
- `daily`: one archive day turned into its summed list updates (pure);
- `ports`: `SimilarItemsStore` (one item per list), `ArchiveDays` (the archive as the job reads it), `Availability`
  (the catalog's port for stock);
- `service`: `RecommendationService` (rank for the API, personalisation and the `related_products` template need);
- `learning`: `SimilarItemsLearning` (the nightly job: each complete day once, each list once per day).
"""

from chalicelib.recommendations.learning import AlreadyLearnt, LearningReport, SimilarItemsLearning
from chalicelib.recommendations.ports import ArchiveDays, Availability, CardsSayStock, SimilarItemsStore
from chalicelib.recommendations.service import RecommendationService
from chalicelib.recommendations.similarity import Card, Delta, Person, person_of

__all__ = [
    "AlreadyLearnt",
    "ArchiveDays",
    "Availability",
    "Card",
    "CardsSayStock",
    "Delta",
    "LearningReport",
    "Person",
    "RecommendationService",
    "SimilarItemsLearning",
    "SimilarItemsStore",
    "person_of",
]
