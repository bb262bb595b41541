"""In-memory fakes of the ports, for service tests (held to the adapters' behaviour by tests/contract)."""
