"""Service tests: use cases run against in-memory fakes of their ports (no moto, no AWS)."""
