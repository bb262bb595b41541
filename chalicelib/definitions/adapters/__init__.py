"""DynamoDB adapter of the definitions store (composed by bootstrap only)."""
