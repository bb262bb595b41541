"""The export wing's S3, DynamoDB and SQS adapters (built by chalicelib/bootstrap.py only)."""
