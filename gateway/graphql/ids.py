"""Ids and codes as they arrive from GraphQL, parsed once into what the services take."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TypeVar

import strawberry

from gateway.errors import ValidationFailed

E = TypeVar("E", bound=StrEnum)

# Record ids are 32-bit signed integers on PostgreSQL: a larger number names no record, and handing it to the
# driver fails deep inside it (an OverflowError) instead of as the caller's mistake.
MAX_RECORD_ID = 2**31 - 1
# ASCII digits only: str.isdigit() also passes "²" and other digits int() then refuses or reads surprisingly.
_DIGITS = re.compile(r"[0-9]{1,10}")


def choice(kind: type[E], value: str, what: str) -> E:
    """The code as the domain's enum, or a validation error listing what is allowed.

    For a code that must arrive as a String; GraphQL inputs use the enums of gateway/*/vocabularies.py instead.
    """
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ValidationFailed(f"Unknown {what}; use one of: {allowed}.") from None


def record_id(value: strawberry.ID, what: str) -> int:
    """The database id a GraphQL ID stands for, or a validation error naming what kind of id was expected."""
    text = str(value)
    if _DIGITS.fullmatch(text) is None or int(text) > MAX_RECORD_ID:
        raise ValidationFailed(f"That is not a {what} id.")
    return int(text)
