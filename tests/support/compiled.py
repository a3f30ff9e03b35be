"""What the tests comparing a compiled statement with the resolver path share (tests/graphql/test_compiled_*.py):
PostgreSQL only, the compiled path on, and the hypothesis settings of a comparison.

A test module imports the two fixtures by name (and lists them in `__all__`) so pytest finds them there."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from gateway.settings import Settings
from tests.support.api import make_settings

EXAMPLES = 60
# Derandomised so a run is repeatable; no example database, so CI and a laptop run the same examples.
COMPARE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(params=["postgresql"])
def database_kind(request: pytest.FixtureRequest) -> str:
    """Only PostgreSQL: SQLite keeps the resolver path."""
    return str(request.param)


@pytest.fixture(name="settings")
def compiled_settings(database_url: str) -> Settings:
    return make_settings(database_url, fast_execution=True)
