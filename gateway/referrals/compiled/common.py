"""What every compiled read of referrals and tasks shares: the statement's parameters, the `caller` CTE that reads
the token's state, walking a selection into `json_build_object`, the Task's plain fields, arguments, and the
statement around a root field's JSON.

Every statement takes the same nine parameters in the same order (an operation binds what it does not use to an
empty value), so a statement names each once more in its last SELECT and PostgreSQL always knows every type.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    SelectionSetNode,
    TypeNode,
    VariableDefinitionNode,
)

from gateway.auth.principal import ROLE_SCOPES, Scope
from gateway.graphql.compiled.sql import enum_name, iso_datetime, json_object, quoted, record_id
from gateway.graphql.ids import MAX_RECORD_ID
from gateway.referrals.models import OPEN_STATUSES, TaskStatus
from gateway.referrals.service.reads import OverdueReason

# json_build_object takes at most 100 arguments: 50 keys an object.
MAX_KEYS = 50


class Unsupported(Exception):
    """The document asks for something this compiler does not build; the resolvers answer it."""


# -- the statement's parameters, in order --------------------------------------------------------------------

JTI, GRANTING_ROLES, NOW, TODAY, LIMIT, AFTER, STATUSES, OVERDUE_ONLY, ACTOR = (f"${n}" for n in range(1, 10))
_PARAMETER_TYPES = ("text", "text[]", "timestamptz", "date", "int", "bigint", "text[]", "boolean", "text")


def typed(parameter: str) -> str:
    return f"{parameter}::{_PARAMETER_TYPES[int(parameter[1:]) - 1]}"


def granting(scope: Scope) -> tuple[str, ...]:
    """The roles that grant a person the scope: a token's person must still hold one of them."""
    return tuple(sorted(role.value for role, scopes in ROLE_SCOPES.items() if scope in scopes))


# -- selections ------------------------------------------------------------------------------------------------


def fields(selection_set: SelectionSetNode | None) -> list[tuple[str, FieldNode]]:
    """The fields selected, by response key: plain fields only, each key once, no directives or fragments."""
    if selection_set is None:
        raise Unsupported
    found: list[tuple[str, FieldNode]] = []
    keys: set[str] = set()
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives:
            raise Unsupported
        key = selection.alias.value if selection.alias else selection.name.value
        if key in keys:
            raise Unsupported
        keys.add(key)
        found.append((key, selection))
    if not found or len(found) > MAX_KEYS:
        raise Unsupported
    return found


def leaf(field: FieldNode) -> None:
    if field.selection_set is not None or field.arguments:
        raise Unsupported


def json_of(type_name: str, selection_set: SelectionSetNode | None, build: Callable[[str, FieldNode], str]) -> str:
    """The object a selection set makes, `build` giving each selected field's expression by its name."""
    pairs: list[tuple[str, str]] = []
    for key, field in fields(selection_set):
        if field.arguments:
            raise Unsupported
        if field.name.value == "__typename":
            leaf(field)
            pairs.append((key, quoted(type_name)))
        else:
            pairs.append((key, build(field.name.value, field)))
    return json_object(pairs)


def leaves(type_name: str, selection_set: SelectionSetNode | None, columns: Mapping[str, str]) -> str:
    def build(name: str, field: FieldNode) -> str:
        leaf(field)
        if name not in columns:
            raise Unsupported
        return columns[name]

    return json_of(type_name, selection_set, build)


# -- a task's plain fields (read from `t`, a referral_tasks row) ---------------------------------------------------

OPEN = "(" + ", ".join(quoted(s.value) for s in sorted(OPEN_STATUSES)) + ")"
_ACCEPT_OVERDUE = (
    f"(t.status = {quoted(TaskStatus.REQUESTED.value)} AND t.accept_due_at IS NOT NULL"
    f" AND t.accept_due_at < {typed(NOW)})"
)
_FIRST_CONTACT_OVERDUE = (
    f"(t.status IN {OPEN} AND t.first_contact_at IS NULL AND t.first_contact_due_at IS NOT NULL"
    f" AND t.first_contact_due_at < {NOW})"
)
_ACCEPT, _FIRST = quoted(OverdueReason.ACCEPT.name), quoted(OverdueReason.FIRST_CONTACT.name)
_OVERDUE = (
    f"CASE WHEN {_ACCEPT_OVERDUE} AND {_FIRST_CONTACT_OVERDUE} THEN json_build_array({_ACCEPT}, {_FIRST})"
    f" WHEN {_ACCEPT_OVERDUE} THEN json_build_array({_ACCEPT})"
    f" WHEN {_FIRST_CONTACT_OVERDUE} THEN json_build_array({_FIRST}) ELSE '[]'::json END"
)

TASK_LEAVES = {
    "id": record_id("t.id"),
    "reference": "t.reference",
    "provider": "t.provider_slug",
    "status": enum_name("t.status", TaskStatus),
    "statusReason": "t.status_reason",
    "version": "t.version",
    "replacesTaskId": record_id("t.replaces_task_id"),
    "safeguardingOverride": "t.safeguarding_override",
    "requestedAt": iso_datetime("t.requested_at"),
    "acceptDueAt": iso_datetime("t.accept_due_at"),
    "firstContactDueAt": iso_datetime("t.first_contact_due_at"),
    "acceptedAt": iso_datetime("t.accepted_at"),
    "viewedAt": iso_datetime("t.viewed_at"),
    "firstContactAt": iso_datetime("t.first_contact_at"),
    "appointmentAt": iso_datetime("t.appointment_at"),
    "waitlisted": "t.waitlisted",
    "closedAt": iso_datetime("t.closed_at"),
    "overdue": _OVERDUE,
}


# -- the token's state ---------------------------------------------------------------------------------------------

# `caller`: the token's state by its id (revoked; client, organisation and user active; the person's roles still
# granting the operation's scope); `allowed`: its organisation, only when all of that holds, so that every row the
# statement reaches is joined to it and a refused token reaches none.
CALLER = f"""caller AS (
  SELECT it.organisation_id, it.revoked_at IS NULL AS not_revoked, c.active AS client_active,
         o.active AS organisation_active, u.active AS user_active,
         (u.id IS NULL OR EXISTS (SELECT 1 FROM json_array_elements_text(u.roles) AS r(role)
                                  WHERE r.role = ANY({typed(GRANTING_ROLES)}))) AS granted
  FROM issued_tokens it
  JOIN oauth_clients c ON c.id = it.client_pk
  JOIN organisations o ON o.id = it.organisation_id
  LEFT JOIN users u ON u.id = it.user_id
  WHERE it.jti = {typed(JTI)}
), allowed AS (
  SELECT organisation_id FROM caller
  WHERE not_revoked AND client_active AND organisation_active AND coalesce(user_active, true) AND granted
)"""

# The next page's cursor (pagination.next_cursor): the last id of a full page, as encode_cursor writes it.
CURSOR = (
    f"CASE WHEN (SELECT count(*) FROM page) = {LIMIT} THEN"
    " translate(encode(convert_to('id:' || (SELECT max(id) FROM page)::text, 'UTF8'), 'base64'), '+/', '-_') END"
)


def statement(ctes: list[str], root: str, audited: str = "0") -> str:
    """The whole statement: `caller` and the operation's CTEs, then the token's state and the response's JSON, whose
    `data` holds `root` (a response key and its value's expression) only when the token is honoured."""
    # Every parameter is named once more here, so PostgreSQL knows each type whatever the query selected.
    every_parameter = ", ".join(typed(f"${n}") for n in range(1, 10))
    return (
        "WITH "
        + ",\n".join([CALLER, *ctes])
        + f"""
SELECT caller.organisation_id IS NOT NULL AS found, caller.not_revoked, caller.client_active,
       caller.organisation_active, caller.user_active, caller.granted, {audited} AS audited,
       num_nulls({every_parameter}) AS unused,
       CASE WHEN EXISTS (SELECT 1 FROM allowed)
            THEN json_build_object('data', json_build_object({root}))::text END AS body
FROM (SELECT 1) AS one LEFT JOIN caller ON true"""
    )


# -- arguments ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Argument:
    """Where an argument's value comes from: a literal of the document, a variable, or the field's default."""

    literal: Any = None
    variable: str | None = None
    required: bool = False  # a variable declared non-null: a request without it is the resolver path's to refuse


def type_text(node: TypeNode) -> str:
    if isinstance(node, NonNullTypeNode):
        return type_text(node.type) + "!"
    if isinstance(node, ListTypeNode):
        return "[" + type_text(node.type) + "]"
    if isinstance(node, NamedTypeNode):
        return node.name.value
    raise Unsupported


def variable_argument(definition: VariableDefinitionNode | None, accepted: set[str]) -> Argument:
    """An argument read from a declared variable of one of the accepted types, without a default or directives."""
    if definition is None or definition.default_value is not None or definition.directives:
        raise Unsupported
    if type_text(definition.type) not in accepted:
        raise Unsupported
    return Argument(variable=definition.variable.name.value, required=isinstance(definition.type, NonNullTypeNode))


_ID = re.compile(r"[0-9]{1,10}")


def record_id_of(argument: Argument, variables: Mapping[str, Any]) -> int | None:
    """An `id:` argument's record id, when it is one a record can have (ids.record_id's rule); None otherwise, and
    the resolvers answer (they word the refusal, or answer null)."""
    if argument.variable is None:
        value = argument.literal
    elif argument.variable in variables:
        value = variables[argument.variable]
    else:
        return None
    text = str(value) if type(value) in (str, int) else ""
    if _ID.fullmatch(text) is None or int(text) > MAX_RECORD_ID:
        return None
    return int(text)
