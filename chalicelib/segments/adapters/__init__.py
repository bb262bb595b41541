"""DynamoDB adapter of the segment ports: membership items, exact sizes and the customer population."""
