"""Lambda event translators: stream, queue, topic and schedule blueprints that hand records to one use case and
report partial batch failures through powertools (`stream_batch.py`)."""
