"""HTTP translators: Chalice blueprints that turn a request into one use-case call and its result into a status code,
headers and a JSON body (`http.py` holds the shared helpers, `admin.admin_only` the one admin guard)."""
