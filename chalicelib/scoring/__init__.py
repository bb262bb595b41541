"""Scoring: how engaged and how valuable a person is, as pure rules over the profile they are given.

Lead score (decaying engagement points, fit from traits, grades, threshold crossings), lifecycle stage (and when time
alone could change it), RFM quintiles and needs groups from population cut points, and the configuration models of
`scoring.json` and `lifecycle.json`. The fold (profiles) applies them; nothing here stores or reads anything.
"""

__all__ = ["config", "lead_score", "lifecycle", "rfm"]
