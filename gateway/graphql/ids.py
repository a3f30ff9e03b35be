"""Ids and codes as they arrive from GraphQL, parsed once into what the services take."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

import strawberry

from gateway.errors import ValidationFailed

E = TypeVar("E", bound=StrEnum)


def choice(kind: type[E], value: str, what: str) -> E:
    """The code as the domain's enum, or a validation error listing what is allowed."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ValidationFailed(f"Unknown {what}; use one of: {allowed}.") from None


def optional_choice(kind: type[E], value: str | None, what: str) -> E | None:
    """`choice`, letting an absent code through as None."""
    return None if value is None else choice(kind, value, what)


def record_id(value: strawberry.ID, what: str) -> int:
    """The database id a GraphQL ID stands for, or a validation error naming what kind of id was expected."""
    text = str(value)
    if not text.isdigit():
        raise ValidationFailed(f"That is not a {what} id.")
    return int(text)
