"""The transactional outbox: events for partner organisations, ids only, delivered after commit."""
