"""DynamoDB adapters of the recommendation ports (composed only by `chalicelib.bootstrap`)."""
