"""Contract tests: one suite per port, run against its in-memory fake and (subclassed) its DynamoDB adapter on moto."""
