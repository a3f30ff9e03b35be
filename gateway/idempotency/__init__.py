"""Idempotency keys: a retried operation returns its first result and creates nothing new."""
