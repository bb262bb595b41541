"""Local-only tooling (never deployed): moto provisioning from infra/, the event pump, the local stack, packaging."""
