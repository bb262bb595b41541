"""DynamoDB adapters of the profiles wing: the profile store, the cut points and the lifecycle sweep."""
