"""AWS adapters of the broadcasts wing (composed by `chalicelib.bootstrap` only)."""
