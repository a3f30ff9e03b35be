"""A cheaper way through graphql-core for the commonest fields: plain attributes with nothing to decide.

An inbox page of 50 tasks resolves about a thousand fields, and most are plain attributes with no resolver,
arguments, permissions or extensions (`reference`, `status`, a victim's `givenName`, `overdue`, `safeContact`...).
graphql-core treats each like any other: it builds a resolve info, checks for arguments, calls Strawberry's default
resolver through two wrappers, tests the result for awaitability and walks `complete_value` down to the scalar or
the object. The profile put that at about two fifths of the gateway's CPU time for the inbox.

For exactly those fields this context reads the attribute itself, while executing the parent's fields:

- a scalar or enum is coerced with the field's own type, as graphql-core would;
- a list of scalars or enums is coerced item by item;
- an object (of a type with no `is_type_of` check) has its own fields executed at once, as `complete_object_value`
  would, with graphql-core's own error handling for whatever those fields raise.

Anything else, and any surprise on the way (a missing attribute, a null for a non-null field or item, a value the
scalar refuses, something awaitable), goes through graphql-core's own `execute_field`, which repeats the plain
read and reports the error in its usual shape. Strawberry marks its basic-field resolver `_is_default` for the
same reason: it builds no `Info` for them either. tests/graphql/test_execution.py holds the answers to
graphql-core's, field for field and error for error.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from operator import attrgetter
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    Undefined,
)
from graphql.pyutils import Path, gather_with_cancel
from strawberry.permission import PermissionExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField
from strawberry.types.info import Info

from gateway.auth.principal import Principal
from gateway.graphql.permissions import CallerPermission

_NOT_PLAIN = object()
_FAILED = object()


def _coerce_leaf(leaf_type: GraphQLLeafType, value: Any) -> Any:
    """The value as the leaf type shows it, or _FAILED for anything graphql-core should handle itself."""
    if isinstance(value, Exception) or hasattr(value, "__await__"):
        return _FAILED
    try:
        coerced = leaf_type.coerce_output_value(value)
    except Exception:
        return _FAILED
    return _FAILED if coerced is None or coerced is Undefined else coerced


class _PlainLeaf:
    __slots__ = ("leaf_type", "non_null", "read")

    def __init__(self, read: Callable[[Any], Any], leaf_type: GraphQLLeafType, non_null: bool) -> None:
        self.read, self.leaf_type, self.non_null = read, leaf_type, non_null

    def show(self, context: GatewayExecutionContext, source: Any, *_: Any) -> Any:
        try:
            value = self.read(source)
        except Exception:
            return _FAILED
        if value is None:
            return _FAILED if self.non_null else None
        return _coerce_leaf(self.leaf_type, value)


class _PlainLeafList:
    __slots__ = ("item_non_null", "leaf_type", "non_null", "read")

    def __init__(
        self, read: Callable[[Any], Any], leaf_type: GraphQLLeafType, non_null: bool, item_non_null: bool
    ) -> None:
        self.read, self.leaf_type, self.non_null, self.item_non_null = read, leaf_type, non_null, item_non_null

    def show(self, context: GatewayExecutionContext, source: Any, *_: Any) -> Any:
        try:
            values = self.read(source)
        except Exception:
            return _FAILED
        if values is None:
            return _FAILED if self.non_null else None
        if not isinstance(values, list | tuple):
            return _FAILED  # graphql-core decides what other iterables and strings mean
        shown: list[Any] = []
        for value in values:
            if value is None:
                if self.item_non_null:
                    return _FAILED
                shown.append(None)
                continue
            coerced = _coerce_leaf(self.leaf_type, value)
            if coerced is _FAILED:
                return _FAILED
            shown.append(coerced)
        return shown


class _CompletedHere:
    """A plan whose field is completed here, at its own path (which leaves never need)."""

    __slots__ = ()

    def show(
        self,
        context: GatewayExecutionContext,
        source: Any,
        field_details_list: Any,
        parent_path: Path | None,
        response_name: str,
        parent_type: GraphQLObjectType,
        position_context: Any,
    ) -> Any:
        path = Path(parent_path, response_name, parent_type.name)
        return self.complete(context, source, field_details_list, path, parent_type, position_context)

    def complete(
        self,
        context: GatewayExecutionContext,
        source: Any,
        field_details_list: Any,
        path: Path,
        parent_type: GraphQLObjectType,
        position_context: Any,
    ) -> Any:
        raise NotImplementedError


class _PlainObject(_CompletedHere):
    __slots__ = ("non_null", "object_type", "read")

    def __init__(self, read: Callable[[Any], Any], object_type: GraphQLObjectType, non_null: bool) -> None:
        self.read, self.object_type, self.non_null = read, object_type, non_null

    def complete(
        self,
        context: GatewayExecutionContext,
        source: Any,
        field_details_list: Any,
        path: Path,
        parent_type: GraphQLObjectType,
        position_context: Any,
    ) -> Any:
        return context.plain_object(self, source, field_details_list, path, position_context)


class _GuardedResolver(_CompletedHere):
    """A resolver that is a plain method of (self, info), behind permissions the caller alone decides."""

    __slots__ = ("definition", "field_def", "info_name", "permissions", "resolve")

    def __init__(
        self,
        definition: StrawberryField,
        field_def: GraphQLField,
        permissions: tuple[CallerPermission, ...],
        resolve: Callable[..., Any],
        info_name: str,
    ) -> None:
        self.definition, self.field_def, self.permissions = definition, field_def, permissions
        self.resolve, self.info_name = resolve, info_name

    def complete(
        self,
        context: GatewayExecutionContext,
        source: Any,
        field_details_list: Any,
        path: Path,
        parent_type: GraphQLObjectType,
        position_context: Any,
    ) -> Any:
        if not context.caller_allowed(self):
            return _FAILED  # refused by Strawberry's own path, with its usual error and code
        return context.resolve_guarded(self, source, field_details_list, path, parent_type, position_context)


def _caller_permissions(definition: StrawberryField) -> tuple[CallerPermission, ...] | None:
    """The field's permissions when its only extensions are permissions the caller alone decides, refusing with
    an error (never silently); else None."""
    permissions: list[CallerPermission] = []
    for extension in definition.extensions:
        if not isinstance(extension, PermissionExtension) or extension.fail_silently:
            return None
        for permission in extension.permissions:
            if not isinstance(permission, CallerPermission):
                return None
            permissions.append(permission)
    return tuple(permissions)


def _guarded_plan(field_def: GraphQLField, definition: StrawberryField) -> _GuardedResolver | None:
    """A plan for a sync resolver taking exactly (self, info), with no arguments, behind caller permissions."""
    resolver = definition.base_resolver
    if resolver is None or definition.is_async or field_def.args or definition.arguments:
        return None
    info, function = resolver.info_parameter, resolver.wrapped_func
    plain_method = (
        resolver.self_parameter is not None
        and info is not None
        and not resolver.root_parameter
        and not resolver.parent_parameter
        and len(resolver.signature.parameters) == 2
        # a staticmethod, classmethod or other callable: Strawberry knows how to call those
        and inspect.isfunction(function)
    )
    permissions = _caller_permissions(definition)
    if not plain_method or permissions is None or info is None or not inspect.isfunction(function):
        return None
    return _GuardedResolver(definition, field_def, permissions, function, info.name)


def _unwrap(field_type: GraphQLOutputType) -> tuple[GraphQLOutputType, bool]:
    if isinstance(field_type, GraphQLNonNull):
        return field_type.of_type, True
    return field_type, False


Plan = _PlainLeaf | _PlainLeafList | _PlainObject | _GuardedResolver


def plain_plan(field_def: GraphQLField) -> Plan | None:
    """How to show the field directly, when it is one this context can; else None."""
    definition = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField):
        return None
    if definition.base_resolver is not None:
        return _guarded_plan(field_def, definition)
    if not getattr(field_def.resolve, "_is_default", False) or field_def.args or not definition.is_basic_field:
        return None
    read = attrgetter(definition.python_name)
    field_type, non_null = _unwrap(field_def.type)
    item_type, item_non_null = _unwrap(field_type.of_type) if isinstance(field_type, GraphQLList) else (None, False)
    plan: Plan | None = None
    if isinstance(field_type, GraphQLScalarType | GraphQLEnumType):
        plan = _PlainLeaf(read, field_type, non_null)
    elif isinstance(item_type, GraphQLScalarType | GraphQLEnumType):
        plan = _PlainLeafList(read, item_type, non_null, item_non_null)
    elif isinstance(field_type, GraphQLObjectType) and field_type.is_type_of is None:
        plan = _PlainObject(read, field_type, non_null)
    return plan


class GatewayExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context with a direct path for plain fields (see the module docstring)."""

    # For each object type, field name -> how to read it, or _NOT_PLAIN: worked out once per type and field, and
    # forgotten with the schema the type belongs to.
    _plans: WeakKeyDictionary[GraphQLObjectType, dict[str, Any]] = WeakKeyDictionary()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per request (one execution context each): the caller's answer for each guarded field.
        self._caller_allowed: dict[int, bool] = {}
        self._info_class, self._has_exception_handlers = _strawberry_config(self.schema)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        # graphql-core's execute_fields, with plain fields answered in the loop instead of through execute_field.
        if self.middleware_manager is not None and self.middleware_manager.middlewares:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        plans = self._plans.get(parent_type)
        if plans is None:
            plans = self._plans.setdefault(parent_type, {})
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                node = field_details_list[0].node
                field_name = node.name.value
                plan = plans.get(field_name)
                if plan is None:
                    plan = plans[field_name] = self._plan(parent_type, field_name)
                result: Any = _FAILED
                if plan is not _NOT_PLAIN and not node.arguments:
                    result = plan.show(
                        self, source_value, field_details_list, path, response_name, parent_type, position_context
                    )
                if result is _FAILED:
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        field_details_list,
                        Path(path, response_name, parent_type.name),
                        position_context,
                    )
                    if result is Undefined:
                        continue
                results[response_name] = result
                if is_awaitable(result):
                    awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise

        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def _plan(self, parent_type: GraphQLObjectType, field_name: str) -> Any:
        field_def = self.schema.get_field(parent_type, field_name)
        found = plain_plan(field_def) if field_def is not None else None
        if isinstance(found, _GuardedResolver) and self._has_exception_handlers:
            found = None  # exception handlers may turn a resolver's error into a result: leave that to Strawberry
        return found if found is not None else _NOT_PLAIN

    def caller_allowed(self, plan: _GuardedResolver) -> bool:
        """Whether the caller may see the field: decided once a request, as the permissions ignore the object."""
        allowed = self._caller_allowed.get(id(plan))
        if allowed is None:
            if not hasattr(self.context_value, "principal"):
                return False  # not the gateway's context: Strawberry's path decides
            principal: Principal | None = self.context_value.principal
            allowed = self._caller_allowed[id(plan)] = all(p.allows(principal) for p in plan.permissions)
        return allowed

    def resolve_guarded(
        self,
        plan: _GuardedResolver,
        source: Any,
        field_details_list: Any,
        path: Path,
        parent_type: GraphQLObjectType,
        position_context: Any,
    ) -> Any:
        """graphql-core's execute_field for this resolver, calling it as Strawberry would once permitted."""
        field_def = plan.field_def
        return_type = field_def.type
        nodes = [details.node for details in field_details_list]
        info = self.build_resolve_info(field_def, nodes, parent_type, path)
        try:
            strawberry_info = self._info_class(_raw_info=info, _field=plan.definition)
            result = plan.resolve(source, **{plan.info_name: strawberry_info})
            if self.is_awaitable(result):
                return self.complete_awaitable_value(
                    return_type, field_details_list, info, path, result, position_context
                )
            completed = self.complete_value(return_type, field_details_list, info, path, result, position_context)
            if self.is_awaitable(completed):
                return self._await_completed(completed, return_type, field_details_list, path)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        return completed

    def plain_object(
        self, plan: _PlainObject, source: Any, field_details_list: Any, path: Path, position_context: Any
    ) -> Any:
        """The object's own fields, executed as complete_object_value would; _FAILED to leave it to graphql-core."""
        try:
            value = plan.read(source)
        except Exception:
            return _FAILED
        if value is None:
            return _FAILED if plan.non_null else None
        if isinstance(value, Exception) or hasattr(value, "__await__"):
            return _FAILED
        # From here on this is the field's completion: its errors are handled as execute_field handles them.
        try:
            completed = self.collect_and_execute_subfields(
                plan.object_type, field_details_list, path, value, position_context
            )
        except Exception as raw_error:
            self.handle_field_error(raw_error, _field_type(plan), field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._await_completed(completed, _field_type(plan), field_details_list, path)
        return completed

    async def _await_completed(
        self, completed: Awaitable[Any], return_type: GraphQLOutputType, field_details_list: Any, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None


def _strawberry_config(schema: Any) -> tuple[type[Info], bool]:
    """The Info class Strawberry builds for resolvers, and whether the schema has exception handlers."""
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    config = getattr(strawberry_schema, "config", None)
    info_class = getattr(config, "info_class", Info)
    return info_class, bool(getattr(strawberry_schema, "exception_handlers", ()))


def _field_type(plan: _PlainObject) -> GraphQLOutputType:
    # Only its nullability matters to handle_field_error: a non-null field passes the error up to its parent.
    return GraphQLNonNull(plan.object_type) if plan.non_null else plan.object_type
