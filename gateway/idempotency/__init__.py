"""Idempotency keys: a retried operation changes nothing again and returns what the first one acted on, as it is now."""
