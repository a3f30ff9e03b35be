"""What every domain service repeats: requiring a scope, loading a row or answering not-found, page sizes, text."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel.sql.expression import SelectOfScalar

from gateway.auth.principal import Principal, Scope
from gateway.db import AsyncSession
from gateway.errors import Forbidden, NotFound, ValidationFailed

T = TypeVar("T")

# The most items one page of any list holds. Services refuse more; the GraphQL edge clamps to it.
MAX_PAGE_SIZE = 100


def require(actor: Principal, scope: Scope) -> None:
    """Refuse unless the caller holds the scope."""
    if not actor.has(scope):
        raise Forbidden()


def require_any(actor: Principal, *scopes: Scope) -> None:
    """Refuse unless the caller holds at least one of the scopes."""
    if not any(actor.has(scope) for scope in scopes):
        raise Forbidden()


async def first_or_not_found(db: AsyncSession, statement: SelectOfScalar[T]) -> T:
    """The first row the (ownership-filtered) statement finds; none is `not-found`, never `forbidden`."""
    found = (await db.exec(statement)).first()
    if found is None:
        raise NotFound()
    return found


async def get_or_not_found(db: AsyncSession, model: type[T], row_id: int, **options: Any) -> T:
    """The row with this primary key, or `not-found`."""
    found = await db.get(model, row_id, **options)
    if found is None:
        raise NotFound()
    return found


def page_size(limit: int) -> int:
    """The page size asked for, refused outside 1 to MAX_PAGE_SIZE."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"A page holds 1 to {MAX_PAGE_SIZE} items.")
    return limit


def bounded_text(value: str | None, what: str, *, max_length: int, required: bool = False) -> str | None:
    """The text stripped, None when blank (refused when required), refused when longer than max_length."""
    cleaned = value.strip() if value is not None else None
    if not cleaned:
        if required:
            raise ValidationFailed(f"The {what} is required.")
        return None
    if len(cleaned) > max_length:
        raise ValidationFailed(f"The {what} is at most {max_length} characters.")
    return cleaned
