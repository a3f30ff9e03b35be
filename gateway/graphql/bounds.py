"""Maximum lengths for text arriving through GraphQL, declared once per input field and checked before any resolver.

An input field declares its bound with `bounded(n)` (metadata `max_length`). `InputBounds`, added to every root
field that takes arguments, walks the converted arguments — input objects, lists of them, bare strings — and
refuses the first string over its bound before the resolver runs, so nothing is read or changed. A mutation whose
result can be an `OperationError` answers with one (code `validation`); any other field raises the same refusal as a
GraphQL error. The message names the field and the bound, never the value.

Services that bound text themselves (gateway.kit.bounded_text) keep doing so: this is the first line, not the only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver, SyncExtensionResolver
from strawberry.types.base import StrawberryOptional, get_object_definition
from strawberry.types.field import StrawberryField
from strawberry.types.info import Info
from strawberry.types.union import StrawberryUnion
from strawberry.utils.str_converters import to_camel_case

from gateway.errors import ValidationFailed
from gateway.graphql.results import OperationError

MAX_LENGTH = "max_length"

# Bounds by meaning, so fields that mean the same thing agree.
NAME = 100
PHONE = 32
EMAIL = 254
POSTCODE = 10
ADDRESS = 500
REFERENCE = 64
CODE = 64  # slugs and provider-declared codes
KEY = 200  # idempotency keys; the idempotency service's own bound
SHORT_TEXT = 200  # a venue, a relationship, a language, safe times
NOTE = 2000  # notes, reasons, justifications
# A string with no declared bound (a bare argument such as a period or a cursor) gets this one.
DEFAULT_MAX_LENGTH = 200


def bounded(max_length: int, *, description: str | None = None, **default: Any) -> Any:
    """An input field of text at most `max_length` characters (each item, for a list of text).

    `default` is strawberry.field's `default=` or `default_factory=`, when the field has one.
    """
    return strawberry.field(description=description, metadata={MAX_LENGTH: max_length}, **default)


def declared_bound(field: StrawberryField) -> int | None:
    """The bound an input field declares, if any."""
    bound = field.metadata.get(MAX_LENGTH) if field.metadata else None
    return bound if isinstance(bound, int) else None


def first_overlong(name: str, value: Any, bound: int | None) -> tuple[str, int] | None:
    """The (field name, bound) of the first text in `value` longer than its bound, or None when all fit."""
    if isinstance(value, str):
        limit = bound if bound is not None else DEFAULT_MAX_LENGTH
        return (name, limit) if len(value) > limit else None
    if isinstance(value, list | tuple | frozenset | set):
        return _first_in((name, item, bound) for item in value)
    definition = get_object_definition(value)
    if definition is not None:
        return _first_in(
            (
                field.graphql_name or to_camel_case(field.python_name),
                getattr(value, field.python_name, None),
                declared_bound(field),
            )
            for field in definition.fields
        )
    return None


def _first_in(entries: Iterable[tuple[str, Any, int | None]]) -> tuple[str, int] | None:
    for name, value, bound in entries:
        found = first_overlong(name, value, bound)
        if found is not None:
            return found
    return None


def _answers_with_operation_error(field: StrawberryField) -> bool:
    kind: Any = field.type
    if isinstance(kind, StrawberryOptional):
        kind = kind.of_type
    return isinstance(kind, StrawberryUnion) and any(t is OperationError for t in cast(tuple[Any, ...], kind.types))


class InputBounds(FieldExtension):
    """Refuses over-long text in a field's arguments before its resolver runs."""

    def __init__(self) -> None:
        self.as_result = False

    def apply(self, field: StrawberryField) -> None:
        self.as_result = _answers_with_operation_error(field)

    def _refusal(self, kwargs: dict[str, Any]) -> OperationError | None:
        found = _first_in((to_camel_case(name), value, None) for name, value in kwargs.items())
        if found is None:
            return None
        name, limit = found
        message = f"The {name} is at most {limit} characters."
        if not self.as_result:
            raise ValidationFailed(message)
        return OperationError(code=ValidationFailed.default_code.value, message=message)

    def resolve(self, next_: SyncExtensionResolver, source: Any, info: Info, **kwargs: Any) -> Any:
        refusal = self._refusal(kwargs)
        return refusal if refusal is not None else next_(source, info, **kwargs)

    async def resolve_async(self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any) -> Any:
        refusal = self._refusal(kwargs)
        return refusal if refusal is not None else await next_(source, info, **kwargs)


def bound_arguments(*roots: type) -> None:
    """Add InputBounds to every field of these root types that takes arguments; adding it twice is harmless."""
    for root in roots:
        for field in root.__strawberry_definition__.fields:  # type: ignore[attr-defined]
            if field.arguments and not any(isinstance(e, InputBounds) for e in field.extensions):
                field.extensions.append(InputBounds())
