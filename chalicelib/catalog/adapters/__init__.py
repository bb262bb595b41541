"""DynamoDB adapters of the catalog wing (composed only by `chalicelib.bootstrap`)."""
