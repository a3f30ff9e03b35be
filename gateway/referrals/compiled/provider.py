"""The reads of tasks compiled into one PostgreSQL statement each, that checks the token, audits and builds the JSON:
the provider's `inbox`, and `task(id:)` and `overdueTasks` for a caller holding tasks:read.

The statement, for one validated document, does in order what the resolver path does across nine statements:

1. `caller`: the token's state by its id (revoked; client, organisation and user active; the person's roles still
   grant tasks:read), so a revocation or a deactivation refuses the very next request, as the middleware would;
2. `page`: the provider's own sent tasks after the cursor, filtered and ordered as service.list_inbox does (or the
   one task, or the overdue ones, that access.visible_tasks reaches), joined to `allowed`, so a refused token
   reaches no row at all; the victim and consent are shown only on tasks where the caller is the provider;
3. `decided`: the standing of consent for each task (gateway/consent/service.py consent_standing: a withdrawal
   outranks every consent recorded before it; the newest unexpired standing consent wins) and whether the task was
   shared under a safeguarding override that no withdrawal since sending has ended;
4. `audit`: one disclosure row per victim shown, as load_victim_views_for_tasks queues them, inserted unsealed in
   the same statement (so committed with the read, before any byte leaves; gateway/audit/sealer.py chains it);
5. the response's JSON, built by PostgreSQL in the order the query selected, each victim field shown only where
   the provider's profile allows it and the consent covers it (projection.py's rule), redacted with the reason
   once consent goes.

Anything outside the shape compiled here (fragments, directives, other root fields, unusual variables) returns None
from `compile_inbox`, and the request takes the resolver path unchanged. tests/graphql/test_compiled_inbox.py checks
the two paths give the same JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from graphql import (
    BooleanValueNode,
    EnumValueNode,
    FieldNode,
    IntValueNode,
    ListValueNode,
    NonNullTypeNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
)

from gateway.auth.principal import Scope
from gateway.errors import DomainError
from gateway.graphql.compiled import CompiledRequest
from gateway.graphql.compiled.sql import (
    enum_name,
    iso_datetime,
    quoted,
    record_id,
)
from gateway.graphql.pagination import decode_cursor, page_size
from gateway.referrals.compiled.common import (
    AFTER,
    CURSOR,
    LIMIT,
    NOW,
    OPEN,
    OVERDUE_ONLY,
    STATUSES,
    TASK_LEAVES,
    Argument,
    Unsupported,
    fields,
    granting,
    json_of,
    leaf,
    leaves,
    record_id_of,
    statement,
    type_text,
    typed,
)
from gateway.referrals.compiled.provider_victim import AUDIT, CONSENT_LEAVES, DECIDED, victim_json
from gateway.referrals.models import ContactMethod, ContactResult, TaskStatus

GRANTING_TASKS_READ = granting(Scope.TASKS_READ)

ATTEMPT_LEAVES = {
    "id": record_id("a.id"),
    "attemptedAt": iso_datetime("a.attempted_at"),
    "method": enum_name("a.method", ContactMethod),
    "result": enum_name("a.result", ContactResult),
}


def _attempts(field: FieldNode) -> str:
    shown = leaves("ContactAttempt", field.selection_set, ATTEMPT_LEAVES)
    return (
        f"(SELECT coalesce(json_agg({shown} ORDER BY a.attempted_at, a.id), '[]'::json)"
        " FROM contact_attempts a WHERE a.task_id = t.id)"
    )


@dataclass
class _TaskShape:
    """What a task's selection needs joined besides the task row."""

    consent: bool = False
    victim: bool = False


def _task(selection_set: SelectionSetNode | None, shape: _TaskShape) -> str:
    def build(name: str, field: FieldNode) -> str:
        if name in TASK_LEAVES:
            leaf(field)
            return TASK_LEAVES[name]
        if name == "victim":
            shape.victim = shape.consent = True
            return f"CASE WHEN t.provider_visible THEN {victim_json(field)} END"
        if name == "consent":
            shape.consent = True
            return f"CASE WHEN t.provider_visible THEN {leaves('TaskConsent', field.selection_set, CONSENT_LEAVES)} END"
        if name == "contactAttempts":
            return _attempts(field)
        raise Unsupported

    return json_of("Task", selection_set, build)


# -- the statement -----------------------------------------------------------------------------------------------

_PAGE = f"""page AS MATERIALIZED (
  SELECT t.*, true AS provider_visible
  FROM referral_tasks t JOIN allowed ON t.provider_organisation_id = allowed.organisation_id
  WHERE t.status <> {quoted(TaskStatus.DRAFT.value)}
    AND ({typed(AFTER)} IS NULL OR t.id > {AFTER})
    AND (cardinality({typed(STATUSES)}) = 0 OR t.status = ANY({STATUSES}))
    AND (NOT {typed(OVERDUE_ONLY)} OR (t.status = {quoted(TaskStatus.REQUESTED.value)} AND t.accept_due_at < {NOW})
         OR (t.status IN {OPEN} AND t.first_contact_at IS NULL AND t.first_contact_due_at < {NOW}))
  ORDER BY t.id LIMIT {typed(LIMIT)}
)"""

# `overdueTasks`: the overdue open tasks the caller's organisation can see, as the Hub or as the provider
# (service.list_overdue_tasks: visible_tasks and the overdue rule), oldest first after the cursor.
_OVERDUE_PAGE = f"""page AS MATERIALIZED (
  SELECT t.*, (t.provider_organisation_id = allowed.organisation_id
               AND t.status <> {quoted(TaskStatus.DRAFT.value)}) AS provider_visible
  FROM referral_tasks t JOIN allowed
    ON t.hub_organisation_id = allowed.organisation_id
    OR (t.provider_organisation_id = allowed.organisation_id AND t.status <> {quoted(TaskStatus.DRAFT.value)})
  WHERE ({typed(AFTER)} IS NULL OR t.id > {AFTER})
    AND ((t.status = {quoted(TaskStatus.REQUESTED.value)} AND t.accept_due_at < {typed(NOW)})
         OR (t.status IN {OPEN} AND t.first_contact_at IS NULL AND t.first_contact_due_at < {NOW}))
  ORDER BY t.id LIMIT {typed(LIMIT)}
)"""

# `task(id:)`: the task if the caller's organisation owns it as the Hub or was sent it as the provider
# (access.visible_tasks); the victim and consent only where it is the provider (the resolvers' loaders read them
# through provider_tasks), so on a Hub-owned task they are null.
_ONE_TASK = f"""page AS MATERIALIZED (
  SELECT t.*, (t.provider_organisation_id = allowed.organisation_id
               AND t.status <> {quoted(TaskStatus.DRAFT.value)}) AS provider_visible
  FROM referral_tasks t JOIN allowed
    ON t.hub_organisation_id = allowed.organisation_id
    OR (t.provider_organisation_id = allowed.organisation_id AND t.status <> {quoted(TaskStatus.DRAFT.value)})
  WHERE t.id = {typed(AFTER)}
)"""


def _statement(page_object: str, shape: _TaskShape, page: str = _PAGE) -> str:
    ctes = [page]
    if shape.consent:
        ctes.append(DECIDED)
    if shape.victim:
        ctes.append(AUDIT)
    return statement(ctes, page_object, audited="(SELECT count(*) FROM audit)" if shape.victim else "0")


# -- arguments ----------------------------------------------------------------------------------------------------

_STATUS_BY_NAME = {member.name: member.value for member in TaskStatus}


_DEFAULTS: dict[str, Any] = {"first": 20, "after": None, "status": None, "overdueOnly": False}
# The page-shaped root fields compiled here: their page and the arguments each takes.
_PAGES = {"inbox": (_PAGE, frozenset(_DEFAULTS)), "overdueTasks": (_OVERDUE_PAGE, frozenset({"first", "after"}))}
# The variable types each argument accepts, as the document may declare them.
_VARIABLE_TYPES = {
    "first": {"Int", "Int!"},
    "after": {"String", "String!"},
    "status": {"[TaskStatus!]", "[TaskStatus!]!"},
    "overdueOnly": {"Boolean", "Boolean!"},
}


def _literal(name: str, node: ValueNode) -> Any:
    if isinstance(node, NullValueNode):
        raise Unsupported  # explicit nulls: the resolver path says what they mean
    if name == "first" and isinstance(node, IntValueNode):
        return int(node.value)
    if name == "after" and isinstance(node, StringValueNode):
        return node.value
    if name == "overdueOnly" and isinstance(node, BooleanValueNode):
        return node.value
    if name == "status":
        items = node.values if isinstance(node, ListValueNode) else (node,)
        if all(isinstance(item, EnumValueNode) for item in items):
            return [item.value for item in items if isinstance(item, EnumValueNode)]
    raise Unsupported


def _statuses(status: Any) -> bool:
    return isinstance(status, list) and len(status) <= len(TaskStatus) and all(s in _STATUS_BY_NAME for s in status)


@dataclass(frozen=True, slots=True)
class InboxRequest:
    """What one request's variables make of the compiled arguments, ready to bind."""

    limit: int
    after_id: int | None
    statuses: list[str]
    overdue_only: bool
    task_id: int | None = None  # `task(id:)`: bound where the inbox binds its cursor


@dataclass(frozen=True, slots=True)
class CompiledInbox:
    """One document's inbox, as a statement and the way its arguments are read from each request."""

    sql: str
    arguments: Mapping[str, Argument]
    audits: bool
    required_scope: str = Scope.TASKS_READ.value

    def request(self, variables: Mapping[str, Any]) -> InboxRequest | None:
        """The bound arguments, or None for anything the resolver path should answer (and word the error for)."""
        if "id" in self.arguments:
            return _one_task_request(self.arguments["id"], variables)
        return _inbox_request(self.arguments, variables)

    def parameters(self, request: CompiledRequest, *, jti: str, actor: str, now: datetime) -> Sequence[Any]:
        assert isinstance(request, InboxRequest)
        today: date = now.date()
        return (
            jti,
            list(GRANTING_TASKS_READ),
            now,
            today,
            request.limit,
            request.task_id if request.task_id is not None else request.after_id,
            request.statuses,
            request.overdue_only,
            actor,
        )


def _inbox_request(arguments: Mapping[str, Argument], variables: Mapping[str, Any]) -> InboxRequest | None:
    """The inbox's page size, cursor and filters from literals, variables or defaults, when all are regular."""
    values: dict[str, Any] = dict(_DEFAULTS)
    for name, argument in arguments.items():
        if argument.variable is None:
            values[name] = argument.literal
        elif argument.variable in variables:
            values[name] = variables[argument.variable]
            if values[name] is None and name in ("first", "overdueOnly"):
                return None
        elif argument.required:
            return None
    first, after, status, overdue_only = (values[n] for n in ("first", "after", "status", "overdueOnly"))
    if type(first) is not int or type(overdue_only) is not bool or not isinstance(after, str | None):
        return None
    if status is not None and (
        not isinstance(status, list) or len(status) > len(TaskStatus) or not all(s in _STATUS_BY_NAME for s in status)
    ):
        return None
    try:
        limit, after_id = page_size(first), decode_cursor(after)
    except DomainError:
        return None
    return InboxRequest(limit, after_id, [_STATUS_BY_NAME[s] for s in status or ()], overdue_only)


def _one_task_request(argument: Argument, variables: Mapping[str, Any]) -> InboxRequest | None:
    """`task(id:)`'s id, when it is one a record can have; else the resolvers answer."""
    task_id = record_id_of(argument, variables)
    if task_id is None:
        return None
    return InboxRequest(limit=1, after_id=None, statuses=[], overdue_only=False, task_id=task_id)


def compile_inbox(operation: OperationDefinitionNode) -> CompiledInbox | None:
    """The statement for an operation selecting only `inbox`, or None when it asks for anything else."""
    try:
        return _compile(operation)
    except Unsupported:
        return None


def _compile(operation: OperationDefinitionNode) -> CompiledInbox:
    if operation.operation is not OperationType.QUERY or operation.directives:
        raise Unsupported
    roots = fields(operation.selection_set)
    if len(roots) != 1:
        raise Unsupported
    key, inbox = roots[0]
    declared = {d.variable.name.value: d for d in operation.variable_definitions or ()}
    if inbox.name.value == "task":
        return _compile_task(key, inbox, declared)
    if inbox.name.value not in _PAGES:
        raise Unsupported
    page_cte, page_arguments = _PAGES[inbox.name.value]
    arguments: dict[str, Argument] = {}
    used: set[str] = set()
    for argument in inbox.arguments or ():
        name = argument.name.value
        if name not in page_arguments or name in arguments:
            raise Unsupported
        if isinstance(argument.value, VariableNode):
            variable = argument.value.name.value
            definition = declared.get(variable)
            if definition is None or variable in used or definition.default_value is not None or definition.directives:
                raise Unsupported
            if type_text(definition.type) not in _VARIABLE_TYPES[name]:
                raise Unsupported
            used.add(variable)
            arguments[name] = Argument(variable=variable, required=isinstance(definition.type, NonNullTypeNode))
        else:
            arguments[name] = Argument(literal=_literal(name, argument.value))
    if used != set(declared):
        raise Unsupported  # an unused variable is a validation error the resolver path reports

    shape = _TaskShape()

    def build(name: str, field: FieldNode) -> str:
        if name == "items":
            item = _task(field.selection_set, shape)
            joins = " JOIN decided d ON d.task_id = t.id" if shape.consent else ""
            if shape.victim:
                joins += " JOIN victims vi ON vi.id = t.victim_id JOIN cases ca ON ca.id = t.case_id"
            return f"(SELECT coalesce(json_agg({item} ORDER BY t.id), '[]'::json) FROM page t{joins})"
        if name == "nextCursor":
            leaf(field)
            return CURSOR
        raise Unsupported

    page = json_of("TaskPage", inbox.selection_set, build)
    return CompiledInbox(
        sql=_statement(f"{quoted(key)}, {page}", shape, page=page_cte), arguments=arguments, audits=shape.victim
    )


def _compile_task(key: str, field: FieldNode, declared: Mapping[str, VariableDefinitionNode]) -> CompiledInbox:
    """`task(id:)`: one task the caller can see, or null, with the same fields as an inbox item."""
    arguments = field.arguments or ()
    if len(arguments) != 1 or arguments[0].name.value != "id":
        raise Unsupported
    value = arguments[0].value
    if isinstance(value, VariableNode):
        definition = declared.get(value.name.value)
        if definition is None or len(declared) != 1 or definition.default_value is not None or definition.directives:
            raise Unsupported
        if type_text(definition.type) not in ("ID", "ID!"):
            raise Unsupported
        argument = Argument(variable=value.name.value, required=isinstance(definition.type, NonNullTypeNode))
    elif isinstance(value, StringValueNode | IntValueNode) and not declared:
        argument = Argument(literal=value.value)
    else:
        raise Unsupported
    shape = _TaskShape()
    item = _task(field.selection_set, shape)
    joins = " JOIN decided d ON d.task_id = t.id" if shape.consent else ""
    if shape.victim:
        joins += " JOIN victims vi ON vi.id = t.victim_id JOIN cases ca ON ca.id = t.case_id"
    task = f"(SELECT {item} FROM page t{joins})"
    return CompiledInbox(
        sql=_statement(f"{quoted(key)}, {task}", shape, page=_ONE_TASK), arguments={"id": argument}, audits=shape.victim
    )
