"""One place that imports every table, so Alembic and the tests see the whole metadata."""

from __future__ import annotations

import importlib

TABLE_MODULES = (
    "gateway.organisations.models",
    "gateway.auth.models",
    "gateway.victims.models",
    "gateway.consent.models",
    "gateway.referrals.models",
    "gateway.audit.models",
    "gateway.events.models",
    "gateway.idempotency.models",
    "gateway.outcomes.models",
    "gateway.grants.models",
    "gateway.restorative_justice.models",
    "gateway.throttles.models",
    "gateway.notifications.models",
    "gateway.data_protection.models",
    "gateway.monitoring.models",
    "gateway.graphql.trusted_models",
)


def import_all_models() -> None:
    for module in TABLE_MODULES:
        importlib.import_module(module)
