"""The delivery rollup's session hooks, installed when gateway.monitoring is first imported.

The rules live in gateway/monitoring/rollup.py; it is imported at the first flush or statement rather than here,
because modules that gateway.monitoring's services import (retention, the RJ hub) import gateway.monitoring too.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction


def _before_flush(session: Session, context: UOWTransaction, instances: object) -> None:
    from gateway.monitoring import rollup  # imported late: see the module docstring

    rollup.before_flush(session, context, instances)


def _do_orm_execute(state: ORMExecuteState) -> None:
    from gateway.monitoring import rollup  # imported late: see the module docstring

    rollup.do_orm_execute(state)


def _before_commit(session: Session) -> None:
    from gateway.monitoring import rollup  # imported late: see the module docstring

    rollup.before_commit(session)


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    from gateway.monitoring import rollup  # imported late: see the module docstring

    rollup.after_soft_rollback(session, previous)


def install() -> None:
    """Hook every session, so every change that moves a monitoring count moves the rollup with it; idempotent."""
    for name, listener in (
        ("before_flush", _before_flush),
        ("do_orm_execute", _do_orm_execute),
        ("before_commit", _before_commit),
        ("after_soft_rollback", _after_soft_rollback),
    ):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
