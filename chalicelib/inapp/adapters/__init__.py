"""The in-app wing's adapters (composed by chalicelib/bootstrap.py only)."""
