"""Mutation results: the payload on success, or an OperationError with a stable code, and nothing changed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry

from gateway.auth.principal import Principal
from gateway.db import AsyncSession
from gateway.errors import DomainError
from gateway.graphql.caller import caller
from gateway.graphql.context import Info

log = logging.getLogger("gateway.graphql")
T = TypeVar("T")


@strawberry.type(description="A refused operation: nothing was changed.")
class OperationError:
    code: str = strawberry.field(
        description="Stable machine-readable code, e.g. not-found, conflict, consent-required."
    )
    message: str = strawberry.field(description="What went wrong, for a person; never contains personal data.")


async def perform(info: Info, operation: Callable[[AsyncSession], Awaitable[T]]) -> T | OperationError:
    """One mutation, one transaction: commit what the service flushed, or roll all of it back.

    The whole of it is one turn on the request's session, so nothing else in the document runs beside it.
    """

    async def transaction(db: AsyncSession) -> T | OperationError:
        try:
            result = await operation(db)
        except DomainError as refusal:
            await db.rollback()
            log.info("operation refused", extra={"code": refusal.code.value})
            return OperationError(code=refusal.code.value, message=refusal.message)
        except BaseException:
            await db.rollback()
            raise
        await db.commit()
        return result

    return await info.context.session.run(transaction)


P = TypeVar("P")
# A service call waiting for the request's session and caller; its ids are parsed when it runs, inside the
# transaction, so a malformed id comes back as an OperationError like any other refusal.
Change = Callable[[AsyncSession, Principal], Awaitable[T]]


async def perform_change(info: Info, change: Change[T], show: Callable[[T], P]) -> P | OperationError:
    """`perform` for a service call that takes the caller: run it, then map its row to the payload."""

    async def run(db: AsyncSession) -> P:
        return show(await change(db, caller(info)))

    return await perform(info, run)
