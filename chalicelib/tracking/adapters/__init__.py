"""DynamoDB adapters of the tracking ports: events, failed events, identity records and sources."""
