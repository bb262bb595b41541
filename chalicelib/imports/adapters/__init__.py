"""AWS adapters of the imports wing (composed only by bootstrap)."""
