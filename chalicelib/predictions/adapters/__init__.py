"""AWS adapters of the predictions wing (composed by bootstrap only)."""
