"""DynamoDB adapters of the engagement ports, and the MessagesTable / DueTable key layout."""
