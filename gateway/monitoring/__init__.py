"""The Commissioner's monitoring: aggregates with small numbers suppressed, never a person."""

from gateway.monitoring.hooks import install

# Every session in a process that knows monitoring keeps the delivery rollup with its writes.
install()
