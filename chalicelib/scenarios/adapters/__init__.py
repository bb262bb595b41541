"""AWS adapters of the scenarios wing (composed by `chalicelib.bootstrap` only)."""
