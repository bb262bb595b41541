"""DynamoDB adapter of the privacy ports."""
