"""createReferral compiled into one PostgreSQL statement: the token's state, the idempotency key, the victim, case,
consents, referral, draft tasks and audit row, written together in one round trip.

The resolver path (service/create.py create_referral) takes eleven statements and about 9 ms of Python a request;
this path does the same work in Python first and then one statement:

1. in Python, before any I/O: the variables coerced by graphql-core and converted by Strawberry exactly as the
   resolver path does (so every enum, date and bound means the same), the same checks (check_referral_input), the
   same eligibility rules (check_eligibility against each provider's profile), the same request fingerprint, and
   the rows built by the same constructors (new_victim, new_case, consent_row, the models' defaults);
2. in SQL, in order: `caller`/`allowed` (the token honoured, the person's roles still granting referrals:write);
   `ready` (the caller's organisation an active referrer, every named provider an active provider organisation);
   `claim` (the idempotency key, taken with the referral's id drawn from its sequence, ON CONFLICT DO NOTHING);
   then the victim, case, consents, referral (its reference made from that id), drafts and the unsealed audit row,
   each inserted only from the rows before it, so nothing is written unless every step before it was.

Whatever the Python side refuses, and whatever the statement does not write (a refused token, a key used before,
an inactive provider or organisation), answers nothing here: the request takes the resolver path, which words the
refusal, replays the first result or refuses the reused key exactly as it always has. When the statement writes
nothing it has changed nothing, so the resolver path starts from the same database. Drafts move no monitoring
count (gateway/monitoring/rollup.py), so the statement has no rollup to keep.

Only the shape compiled here: one `createReferral(input: $variable)` whose result selects `__typename` and the
ReferralPayload's `referral { id reference createdAt __typename }` (an OperationError's fields may be selected: this
path never answers with one). tests/graphql/test_compiled_create.py checks both paths write the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
import strawberry
from graphql import (
    FieldNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments

from gateway.audit.models import AuditCategory
from gateway.audit.service import TRANSACTION_ID_SQL, UNSEALED_COLUMNS
from gateway.auth.principal import Scope
from gateway.clock import utc_now
from gateway.consent.models import Consent
from gateway.consent.service import consent_row
from gateway.errors import DomainError
from gateway.graphql.bounds import first_overlong
from gateway.graphql.compiled import CompiledOperation, CompiledRequest, Compiler
from gateway.graphql.compiled.sql import iso_datetime, json_object, quoted, record_id
from gateway.idempotency.models import IdempotencyRecord
from gateway.idempotency.service import MAX_KEY_LENGTH, request_fingerprint
from gateway.organisations.models import OrganisationRole
from gateway.referrals.compiled.common import CALLER, Unsupported, granting, leaves
from gateway.referrals.inputs import CreateReferralInput
from gateway.referrals.models import Case, Referral, ReferralTask, TaskStatus
from gateway.referrals.service.access import PURPOSE_REFERRAL
from gateway.referrals.service.create import check_referral_input, new_case
from gateway.referrals.service.eligibility import check_eligibility
from gateway.victims.models import Victim
from gateway.victims.service import new_victim
from providers.registry import get_profile

OPERATION = "referral.create"  # the idempotency operation and audit action service.create_referral uses
ROOT_FIELD = "createReferral"

# The roles that grant a person referrals:write, bound as the statement's $2 on every request.
_GRANTING_ROLES = list(granting(Scope.REFERRALS_WRITE))

# The statement's parameters, in order ($1 and $2 are the ones common.CALLER reads).
_PARAMETER_TYPES = (
    "text",  # $1 the token's id
    "text[]",  # $2 the roles granting referrals:write
    "timestamptz",  # $3 now: the audit row's time and the key's
    "text",  # $4 the actor label: consents' recorded_by, the referral's created_by, the audit row's actor
    "text",  # $5 the idempotency key
    "text",  # $6 the request's fingerprint
    "text[]",  # $7 the provider slugs, in the order given
    "json",  # $8 the victim row
    "json",  # $9 the case row
    "json",  # $10 the consent rows
    "json",  # $11 the draft rows
    "json",  # $12 the referral row
    "text",  # $13 the referral reference's prefix, REF-<year>-
)


def _p(number: int) -> str:
    return f"${number}::{_PARAMETER_TYPES[number - 1]}"


NOW, ACTOR, KEY, FINGERPRINT, SLUGS = _p(3), _p(4), _p(5), _p(6), _p(7)
VICTIM_ROW, CASE_ROW, CONSENT_ROWS, TASK_ROWS, REFERRAL_ROW, REFERENCE_PREFIX = (_p(n) for n in range(8, 14))

# Columns the statement fills from the rows it wrote before (or the caller); every other column comes from the row
# built in Python, so a column added to a model is written by this path without a change here.
_VICTIM_FROM_SQL = {"hub_organisation_id": "claim.organisation_id"}
_CASE_FROM_SQL = {"hub_organisation_id": "victim.hub_organisation_id", "victim_id": "victim.id"}
_CONSENT_FROM_SQL = {**_CASE_FROM_SQL, "recorded_by": ACTOR}
# Python's f"REF-{year}-{id:06d}": at least six digits, more when the id has more.
_REFERENCE = (
    f"{REFERENCE_PREFIX} || CASE WHEN claim.referral_id < 1000000 THEN lpad(claim.referral_id::text, 6, '0')"
    " ELSE claim.referral_id::text END"
)
_REFERRAL_FROM_SQL = {
    "id": "claim.referral_id",
    "reference": _REFERENCE,
    "hub_organisation_id": "victim.hub_organisation_id",
    "case_id": "new_case.id",
    "victim_id": "victim.id",
    "created_by": ACTOR,
}
# A draft's row carries its reference's suffix ("-CPN"); the statement puts the referral's reference before it.
_TASK_FROM_SQL = {
    "reference": "referral.reference || r.reference",
    "referral_id": "referral.id",
    "hub_organisation_id": "victim.hub_organisation_id",
    "provider_organisation_id": "provider.id",
    "victim_id": "victim.id",
    "case_id": "new_case.id",
}


def _table(model: type[Any]) -> sa.Table:
    table: sa.Table = model.__table__
    return table


def _insert(model: type[Any], from_sql: Mapping[str, str], source: str, *, returning: str, order: str = "") -> str:
    """INSERT of every column but a generated id: `from_sql`'s expressions, else the Python row's field `r.<name>`."""
    table = _table(model)
    columns = [c.name for c in table.columns if not (c.primary_key and c.name not in from_sql)]
    for name in columns:
        if not name.isidentifier() or not name.islower():
            raise ValueError("compiled inserts name plain lower-case columns only")
    values = ", ".join(from_sql.get(name, f"r.{name}") for name in columns)
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)})\n  SELECT {values}\n  FROM {source}{order}\n"
        f"  RETURNING {returning}"
    )


def _row(model_row: Any, from_sql: Mapping[str, str]) -> dict[str, Any]:
    """The Python row's fields the statement takes from it, by column name."""
    table = _table(type(model_row))
    return {c.name: getattr(model_row, c.key) for c in table.columns if c.name not in from_sql and not c.primary_key}


def _has_role(organisation: str, role: OrganisationRole) -> str:
    return (
        f"EXISTS (SELECT 1 FROM json_array_elements_text({organisation}.roles) AS held(role)"
        f" WHERE held.role = {quoted(role.value)})"
    )


_IDEMPOTENCY = _table(IdempotencyRecord).name


def _rows_of(model: type[Any], parameter: str, *, many: bool = False) -> str:
    """The Python rows in a JSON parameter read as the table's own row type, so PostgreSQL converts each field as
    its column has it (timestamps, dates, JSON); a list of rows is numbered in the order given."""
    if many:
        return f"json_populate_recordset(NULL::{_table(model).name}, {parameter}) WITH ORDINALITY r"
    return f"json_populate_record(NULL::{_table(model).name}, {parameter}) r"


_BY_ORDER = " ORDER BY r.ordinality"
_VICTIM = _insert(
    Victim, _VICTIM_FROM_SQL, f"claim CROSS JOIN {_rows_of(Victim, VICTIM_ROW)}", returning="id, hub_organisation_id"
)
_CASE = _insert(Case, _CASE_FROM_SQL, f"victim CROSS JOIN {_rows_of(Case, CASE_ROW)}", returning="id")
_CONSENTS = _insert(
    Consent,
    _CONSENT_FROM_SQL,
    f"victim CROSS JOIN {_rows_of(Consent, CONSENT_ROWS, many=True)}",
    returning="id",
    order=_BY_ORDER,
)
_REFERRAL = _insert(
    Referral,
    _REFERRAL_FROM_SQL,
    f"claim CROSS JOIN victim CROSS JOIN new_case CROSS JOIN {_rows_of(Referral, REFERRAL_ROW)}",
    returning="id, reference, created_at",
)
_TASKS = _insert(
    ReferralTask,
    _TASK_FROM_SQL,
    f"referral CROSS JOIN victim CROSS JOIN new_case CROSS JOIN {_rows_of(ReferralTask, TASK_ROWS, many=True)}"
    " JOIN provider ON provider.slug = r.provider_slug",
    returning="id",
    order=_BY_ORDER,
)

CTES = f"""{CALLER},
provider AS (
  SELECT o.id, o.slug FROM organisations o
  WHERE o.slug = ANY({SLUGS}) AND o.active AND {_has_role("o", OrganisationRole.PROVIDER)}
), ready AS (
  SELECT allowed.organisation_id FROM allowed JOIN organisations o ON o.id = allowed.organisation_id
  WHERE o.active AND {_has_role("o", OrganisationRole.REFERRER)}
    AND (SELECT count(*) FROM provider) = cardinality({SLUGS})
), claim AS (
  INSERT INTO {_IDEMPOTENCY} (organisation_id, operation, key, request_fingerprint, created_at, result_id)
  SELECT organisation_id, {quoted(OPERATION)}, {KEY}, {FINGERPRINT}, {NOW},
         nextval(pg_get_serial_sequence('{_table(Referral).name}', 'id'))
  FROM ready
  ON CONFLICT (organisation_id, operation, key) DO NOTHING
  RETURNING organisation_id, result_id AS referral_id
), victim AS (
  {_VICTIM}
), new_case AS (
  {_CASE}
), new_consents AS (
  {_CONSENTS}
), referral AS (
  {_REFERRAL}
), new_tasks AS (
  {_TASKS}
), audit AS (
  INSERT INTO audit_log ({", ".join(UNSEALED_COLUMNS)})
  SELECT {NOW}, {quoted(AuditCategory.COLLECTION.value)}, {quoted(OPERATION)}, {quoted(PURPOSE_REFERRAL)},
         victim.hub_organisation_id, {ACTOR}, victim.id,
         json_build_object('victim', victim.id, 'case', new_case.id, 'referral', referral.id,
                           'consents', (SELECT coalesce(json_agg(id ORDER BY id), '[]'::json) FROM new_consents),
                           'tasks', (SELECT coalesce(json_agg(id ORDER BY id), '[]'::json) FROM new_tasks)),
         NULL, false, {TRANSACTION_ID_SQL}
  FROM victim CROSS JOIN new_case CROSS JOIN referral
  RETURNING 1
)"""

REFERRAL_LEAVES = {
    "id": record_id("referral.id"),
    "reference": "referral.reference",
    "createdAt": iso_datetime("referral.created_at"),
}


def _statement(root_key: str, payload: str) -> str:
    every_parameter = ", ".join(_p(n) for n in range(1, len(_PARAMETER_TYPES) + 1))
    return f"""WITH {CTES}
SELECT caller.organisation_id IS NOT NULL AS found, caller.not_revoked, caller.client_active,
       caller.organisation_active, caller.user_active, caller.granted,
       num_nulls({every_parameter}) AS unused,
       (SELECT json_build_object('data', json_build_object({quoted(root_key)}, {payload}))::text FROM referral) AS body
FROM (SELECT 1) AS one LEFT JOIN caller ON true"""


# -- the request --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A createReferral's input checked and made into rows, ready to bind."""

    key: str
    fingerprint: str
    provider_slugs: list[str]
    victim: bytes
    case: bytes
    consents: bytes
    tasks: bytes
    referral: bytes
    reference_prefix: str


@dataclass(frozen=True, slots=True)
class CompiledCreateReferral:
    sql: str
    read_input: Callable[[Mapping[str, Any]], CreateReferralInput | None]
    required_scope: str = Scope.REFERRALS_WRITE.value

    def request(self, variables: Mapping[str, Any]) -> CompiledRequest | None:
        converted = self.read_input(variables)
        return None if converted is None else prepared(converted, now=utc_now())

    def parameters(self, request: CompiledRequest, *, jti: str, actor: str, now: datetime) -> Sequence[Any]:
        assert isinstance(request, CreateRequest)
        return (
            jti,
            _GRANTING_ROLES,
            now,
            actor,
            request.key,
            request.fingerprint,
            request.provider_slugs,
            request.victim.decode(),
            request.case.decode(),
            request.consents.decode(),
            request.tasks.decode(),
            request.referral.decode(),
            request.reference_prefix,
        )


def prepared(converted: CreateReferralInput, *, now: datetime) -> CreateRequest | None:
    """The input as service.create_referral would write it, or None for anything it would refuse."""
    if first_overlong("input", converted, None) is not None:
        return None
    key = converted.idempotency_key
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        return None
    slugs = list(converted.providers)
    try:
        victim, case = converted.victim.values(), converted.case.values()
        consents = [c.values() for c in converted.consents]
        check_referral_input(victim=victim, case=case, consents=consents, provider_slugs=slugs, now=now)
        victim_row = new_victim(victim, hub_organisation_id=0)  # the hub and ids are the statement's
        case_row = new_case(case, hub_organisation_id=0, victim_id=0)
        for slug in slugs:
            profile = get_profile(slug)
            if profile is None:
                return None
            check_eligibility(profile, victim=victim_row, case=case_row, today=now.date())
    except DomainError:
        return None
    consent_rows = [consent_row(c, hub_organisation_id=0, victim_id=0, recorded_by="") for c in consents]
    # Every id, the Hub and the references' numbers are the statement's: these zeros and blanks are not written.
    drafts = [
        ReferralTask(
            reference=f"-{slug.upper()}",
            provider_slug=slug,
            status=TaskStatus.DRAFT.value,
            referral_id=0,
            hub_organisation_id=0,
            provider_organisation_id=0,
            victim_id=0,
            case_id=0,
        )
        for slug in slugs
    ]
    referral = Referral(reference="", hub_organisation_id=0, case_id=0, victim_id=0, created_by="")
    fingerprint = request_fingerprint({"victim": victim, "case": case, "consents": consents, "providers": slugs})
    return CreateRequest(
        key=key,
        fingerprint=fingerprint,
        provider_slugs=slugs,
        victim=orjson.dumps(_row(victim_row, _VICTIM_FROM_SQL)),
        case=orjson.dumps(_row(case_row, _CASE_FROM_SQL)),
        consents=orjson.dumps([_row(row, _CONSENT_FROM_SQL) for row in consent_rows]),
        tasks=orjson.dumps([_row(row, _TASK_FROM_SQL) | {"reference": row.reference} for row in drafts]),
        referral=orjson.dumps(_row(referral, _REFERRAL_FROM_SQL)),
        reference_prefix=f"REF-{referral.created_at.year}-",
    )


# -- compiling ----------------------------------------------------------------------------------------------------


def compile_create_referral(schema: strawberry.Schema) -> Compiler:
    """The compiler of createReferral documents for this schema (it converts variables as the schema does)."""
    mutation_type = schema._schema.mutation_type
    assert mutation_type is not None
    field_definition = mutation_type.fields[ROOT_FIELD]
    strawberry_field = field_definition.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]

    def compile_operation(operation: OperationDefinitionNode) -> CompiledOperation | None:
        try:
            root = _root(operation)
        except Unsupported:
            return None
        key = root.alias.value if root.alias else root.name.value
        try:
            payload = _payload(root.selection_set)
        except Unsupported:
            return None

        def read_input(variables: Mapping[str, Any]) -> CreateReferralInput | None:
            coerced = get_variable_values(
                schema._schema, operation.variable_definitions or (), dict(variables), max_errors=1
            )
            if isinstance(coerced, list):
                return None
            try:
                arguments = get_argument_values(field_definition, root, coerced)
                converted = convert_arguments(
                    arguments,
                    strawberry_field.arguments,
                    scalar_registry=schema.schema_converter.scalar_registry,
                    config=schema.config,
                )
            except (GraphQLError, ValueError, TypeError):
                return None
            found = converted.get("input")
            return found if isinstance(found, CreateReferralInput) else None

        return CompiledCreateReferral(sql=_statement(key, payload), read_input=read_input)

    return compile_operation


def _root(operation: OperationDefinitionNode) -> FieldNode:
    if operation.operation is not OperationType.MUTATION or operation.directives:
        raise Unsupported
    selections = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        raise Unsupported
    root = selections[0]
    arguments = root.arguments or ()
    if root.name.value != ROOT_FIELD or root.directives or len(arguments) != 1:
        raise Unsupported
    argument = arguments[0]
    if argument.name.value != "input" or not isinstance(argument.value, VariableNode):
        raise Unsupported
    return root


def _payload(selection_set: SelectionSetNode | None) -> str:
    """The ReferralPayload's JSON, from the union's selection: `__typename` and ReferralPayload's fields."""
    if selection_set is None:
        raise Unsupported
    pairs: list[tuple[str, str]] = []
    keys: set[str] = set()
    for selection in _payload_selections(selection_set):
        if selection.directives or selection.arguments:
            raise Unsupported
        key = selection.alias.value if selection.alias else selection.name.value
        if key in keys:
            raise Unsupported
        keys.add(key)
        if selection.name.value == "__typename" and selection.selection_set is None:
            pairs.append((key, quoted("ReferralPayload")))
        elif selection.name.value == "referral":
            pairs.append((key, leaves("Referral", selection.selection_set, REFERRAL_LEAVES)))
        else:
            raise Unsupported
    if not pairs:
        raise Unsupported
    return json_object(pairs)


def _payload_selections(selection_set: SelectionSetNode) -> list[FieldNode]:
    """The fields a ReferralPayload answer shows, in order: plain ones and those of `... on ReferralPayload`; those
    of `... on OperationError` never show here."""
    found: list[FieldNode] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            found.append(selection)
        elif isinstance(selection, InlineFragmentNode) and not selection.directives:
            condition = selection.type_condition.name.value if selection.type_condition else None
            if condition == "OperationError":
                continue
            if condition not in (None, "ReferralPayload", "ReferralResult"):
                raise Unsupported
            for inner in selection.selection_set.selections:
                if not isinstance(inner, FieldNode):
                    raise Unsupported
                found.append(inner)
        else:
            raise Unsupported
    return found
