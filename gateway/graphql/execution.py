"""A cheaper way through graphql-core for the commonest field: a plain attribute shown as a scalar.

An inbox page of 50 tasks resolves about a thousand fields, and most are leaves with no resolver, arguments,
permissions or extensions (`reference`, `status`, a victim's `givenName`...). graphql-core treats each like any
other: it builds a resolve info, checks for arguments, calls Strawberry's default resolver through two wrappers,
tests the result for awaitability and walks `complete_value` down to the scalar. The profile put that at about
two fifths of the gateway's CPU time for the inbox.

For exactly those fields this context reads the attribute and coerces it with the field's own scalar, as
graphql-core would. Anything else, and any surprise on the way (a missing attribute, a null for a non-null field,
a value the scalar refuses), goes through graphql-core's own `execute_field`, which repeats the plain read and
reports the error in its usual shape. Strawberry marks its basic-field resolver `_is_default` for the same
reason: it builds no `Info` for them either.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

_NOT_PLAIN = object()
_FAILED = object()


class _PlainLeaf:
    __slots__ = ("leaf_type", "non_null", "read")

    def __init__(self, read: Any, leaf_type: GraphQLLeafType, non_null: bool) -> None:
        self.read = read
        self.leaf_type = leaf_type
        self.non_null = non_null


def plain_leaf(field_def: GraphQLField) -> _PlainLeaf | None:
    """How to read the field directly, when it is a plain attribute of a scalar or enum type; else None."""
    definition = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or not getattr(field_def.resolve, "_is_default", False):
        return None
    if field_def.args or not definition.is_basic_field:
        return None
    field_type = field_def.type
    non_null = isinstance(field_type, GraphQLNonNull)
    leaf_type = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    if not isinstance(leaf_type, GraphQLScalarType | GraphQLEnumType):
        return None
    return _PlainLeaf(attrgetter(definition.python_name), leaf_type, non_null)


class GatewayExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context with a direct path for plain leaf fields (see the module docstring)."""

    # For each object type, field name -> how to read it, or _NOT_PLAIN: worked out once per type and field, and
    # forgotten with the schema the type belongs to.
    _plans: WeakKeyDictionary[GraphQLObjectType, dict[str, Any]] = WeakKeyDictionary()

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        node = field_details_list[0].node
        plan = self._plan(parent_type, node.name.value)
        if plan is not _NOT_PLAIN and not node.arguments and not self._has_middleware():
            value = self._read(plan, source)
            if value is not _FAILED:
                return value
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def _plan(self, parent_type: GraphQLObjectType, field_name: str) -> Any:
        fields = self._plans.get(parent_type)
        if fields is None:
            fields = self._plans.setdefault(parent_type, {})
        plan = fields.get(field_name)
        if plan is None:
            field_def = self.schema.get_field(parent_type, field_name)
            found = plain_leaf(field_def) if field_def is not None else None
            plan = fields[field_name] = found if found is not None else _NOT_PLAIN
        return plan

    def _has_middleware(self) -> bool:
        manager = self.middleware_manager
        return manager is not None and bool(manager.middlewares)

    @staticmethod
    def _read(plan: _PlainLeaf, source: Any) -> Any:
        try:
            value = plan.read(source)
        except Exception:
            return _FAILED
        if value is None:
            return _FAILED if plan.non_null else None
        if isinstance(value, Exception) or hasattr(value, "__await__"):
            return _FAILED
        try:
            coerced = plan.leaf_type.coerce_output_value(value)
        except Exception:
            return _FAILED
        if coerced is None or coerced is Undefined:
            return _FAILED
        return coerced
