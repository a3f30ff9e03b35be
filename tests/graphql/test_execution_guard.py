"""The direct execution path leans on graphql-core's and Strawberry's internals: this fails when they move.

gateway/graphql/execution.py copies graphql-core's `execute_fields` loop and calls `execute_field`,
`complete_value`, `complete_awaitable_value`, `handle_field_error`, `collect_and_execute_subfields`,
`settle_in_background` and Strawberry's `build_resolve_info` directly. An upgrade of either library can change
what those do without changing their names, so a passing type check proves nothing. When this test fails:

1. read the upstream change to each method named in the failure, and port it into execution.py;
2. run tests/graphql/test_execution.py (the direct path against graphql-core's, answer for answer) and the API
   tests, which run on both executors (the `fast_execution` setting);
3. re-run bench/inbox_benchmark.py; then record the new versions and source hashes here.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gateway.graphql.execution import GatewayExecutionContext

PINNED_VERSIONS = {"graphql-core": "3.3.2", "strawberry-graphql": "0.341.2"}

# sha256 of each method's source, as checked against execution.py at the versions above.
REVIEWED_SOURCES = {
    "execute_fields": "797f54fbd779b4e381b688bce8e249abffa2e057974676e5f5ef3cefc0ff654c",
    "execute_field": "5281dc836ecc24a07af71f0174a0deeec566966af66df08a8c929b7b68491602",
    "complete_value": "06c34f7681a131208e6ca8ffec66578cf11ad0a51f8a9dc631cc7cc5bf06dbc9",
    "complete_awaitable_value": "9a67e9f91f0aac5ca3f186e44d1467d82a6ed1abb2b832b54eff9ec192cf3acd",
    "handle_field_error": "d33a6ee408cd1695b017debbaaa542be2ce9c2760c7a350aac8cc59634843d1d",
    "collect_and_execute_subfields": "98432d93fb1b25265e0e26873d72663af638780387d8f71bea821d020c9c88b2",
    "build_resolve_info": "d600ee8361192a18a3a86f022b1bd6b1f77b8d2747246f48b61b6be6b156e95a",
    "settle_in_background": "da2b2c7303b6fa2d75863fe92b8c7d7e60d8b41837fd1fe1d9203027151acc96",
}


def _source_hash(name: str) -> str:
    return hashlib.sha256(inspect.getsource(getattr(StrawberryGraphQLCoreExecutionContext, name)).encode()).hexdigest()


def test_graphql_core_and_strawberry_are_the_reviewed_versions() -> None:
    installed = {package: importlib.metadata.version(package) for package in PINNED_VERSIONS}
    assert installed == PINNED_VERSIONS, (
        "graphql-core or Strawberry changed version: re-check gateway/graphql/execution.py against the new "
        "Executor.execute_fields, execute_field, complete_value and Strawberry's build_resolve_info "
        "(see this module's docstring), then update PINNED_VERSIONS and REVIEWED_SOURCES."
    )


def test_the_internals_the_direct_path_copies_are_unchanged() -> None:
    changed = sorted(name for name, digest in REVIEWED_SOURCES.items() if _source_hash(name) != digest)
    assert changed == [], (
        f"these upstream execution methods changed: {', '.join(changed)}; port the change into "
        "gateway/graphql/execution.py, then record the new hashes (see this module's docstring)."
    )


def test_the_gateway_context_still_overrides_the_loop_it_copies() -> None:
    # execute_fields is the one method copied whole; the rest are called, so they must still exist upstream.
    assert "execute_fields" in vars(GatewayExecutionContext)
    for name in REVIEWED_SOURCES:
        assert callable(getattr(StrawberryGraphQLCoreExecutionContext, name)), name
