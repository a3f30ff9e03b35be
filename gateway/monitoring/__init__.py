"""The Commissioner's monitoring: aggregates with small numbers suppressed, never a person."""
