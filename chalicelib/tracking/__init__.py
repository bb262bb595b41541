"""Tracking: messages, validation, enrichment, identity rules, sources and the ingest use case, with its ports."""
