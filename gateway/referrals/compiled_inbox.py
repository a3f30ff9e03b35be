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

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from graphql import (
    BooleanValueNode,
    EnumValueNode,
    FieldNode,
    IntValueNode,
    ListTypeNode,
    ListValueNode,
    NamedTypeNode,
    NonNullTypeNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    TypeNode,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
)

from gateway.audit.service import TRANSACTION_ID_SQL, UNSEALED_COLUMNS
from gateway.auth.principal import ROLE_SCOPES, Scope
from gateway.consent.models import ConsentMethod
from gateway.errors import DomainError
from gateway.graphql.compiled import CompiledRequest
from gateway.graphql.compiled.sql import (
    enum_name,
    enum_names_of_json_array,
    iso_date,
    iso_datetime,
    json_object,
    quoted,
    record_id,
)
from gateway.graphql.ids import MAX_RECORD_ID
from gateway.graphql.pagination import decode_cursor, page_size
from gateway.referrals.models import (
    OPEN_STATUSES,
    ContactMethod,
    ContactResult,
    DomesticAbuseRisk,
    TaskStatus,
)
from gateway.referrals.service.access import PURPOSE_SAFEGUARDING, PURPOSE_SUPPORT
from gateway.referrals.service.reads import OverdueReason
from gateway.victims.models import ConsentGiver
from providers.profile import CrimeCategory, Need, VictimField
from providers.registry import all_profiles

# json_build_object takes at most 100 arguments: 50 keys an object.
MAX_KEYS = 50


class Unsupported(Exception):
    """The document asks for something this compiler does not build; the resolvers answer it."""


# -- the statement's parameters, in order --------------------------------------------------------------------

JTI, GRANTING_ROLES, NOW, TODAY, LIMIT, AFTER, STATUSES, OVERDUE_ONLY, ACTOR = (f"${n}" for n in range(1, 10))
_PARAMETER_TYPES = ("text", "text[]", "timestamptz", "date", "int", "bigint", "text[]", "boolean", "text")


def _typed(parameter: str) -> str:
    return f"{parameter}::{_PARAMETER_TYPES[int(parameter[1:]) - 1]}"


GRANTING_TASKS_READ = tuple(sorted(role.value for role, scopes in ROLE_SCOPES.items() if Scope.TASKS_READ in scopes))


# -- selections ------------------------------------------------------------------------------------------------


def _fields(selection_set: SelectionSetNode | None) -> list[tuple[str, FieldNode]]:
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


def _leaf(field: FieldNode) -> None:
    if field.selection_set is not None or field.arguments:
        raise Unsupported


def _object(type_name: str, selection_set: SelectionSetNode | None, build: Callable[[str, FieldNode], str]) -> str:
    pairs: list[tuple[str, str]] = []
    for key, field in _fields(selection_set):
        if field.arguments:
            raise Unsupported
        if field.name.value == "__typename":
            _leaf(field)
            pairs.append((key, quoted(type_name)))
        else:
            pairs.append((key, build(field.name.value, field)))
    return json_object(pairs)


def _leaves(type_name: str, selection_set: SelectionSetNode | None, columns: Mapping[str, str]) -> str:
    def build(name: str, field: FieldNode) -> str:
        _leaf(field)
        if name not in columns:
            raise Unsupported
        return columns[name]

    return _object(type_name, selection_set, build)


# -- tasks -------------------------------------------------------------------------------------------------------

_OPEN = "(" + ", ".join(quoted(s.value) for s in sorted(OPEN_STATUSES)) + ")"
_ACCEPT_OVERDUE = (
    f"(t.status = {quoted(TaskStatus.REQUESTED.value)} AND t.accept_due_at IS NOT NULL"
    f" AND t.accept_due_at < {_typed(NOW)})"
)
_FIRST_CONTACT_OVERDUE = (
    f"(t.status IN {_OPEN} AND t.first_contact_at IS NULL AND t.first_contact_due_at IS NOT NULL"
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

ATTEMPT_LEAVES = {
    "id": record_id("a.id"),
    "attemptedAt": iso_datetime("a.attempted_at"),
    "method": enum_name("a.method", ContactMethod),
    "result": enum_name("a.result", ContactResult),
}

# -- consent and the victim ------------------------------------------------------------------------------------

# Worked out once a task in `decided`: whether the victim is shown at all, and under a safeguarding override.
_SHOWN = "d.shown"
_OVERRIDE_SHOWN = "d.override_shown"
_CONSENT_STATE = (
    "CASE WHEN d.consent_id IS NOT NULL THEN 'valid' WHEN d.by_override THEN 'safeguarding-override' ELSE d.state END"
)
_STATE_NAMES = {
    "valid": "VALID",
    "withdrawn": "WITHDRAWN",
    "expired": "EXPIRED",
    "none": "NONE",
    "safeguarding-override": "SAFEGUARDING_OVERRIDE",
}

CONSENT_LEAVES = {
    "state": "CASE "
    + _CONSENT_STATE
    + " "
    + " ".join(f"WHEN {quoted(v)} THEN {quoted(n)}" for v, n in _STATE_NAMES.items())
    + " END",
    "givenBy": enum_name("d.given_by", ConsentGiver),
    "method": enum_name("d.method", ConsentMethod),
    "givenAt": iso_datetime("d.given_at"),
    "expiresAt": iso_datetime("d.expires_at"),
    "dataCategories": "CASE WHEN d.consent_id IS NOT NULL THEN "
    + enum_names_of_json_array("d.data_categories", VictimField)
    + " ELSE '[]'::json END",
}


def _allowed(victim_field: VictimField) -> str:
    """Whether this task's provider may see the field now (worked out once a task, in `decided`)."""
    return f"({quoted(victim_field.value)} = ANY(d.allowed))"


def _profile_fields() -> str:
    """Each provider's profile fields, sorted by value, as a text[] for the task's provider."""
    cases = " ".join(
        f"WHEN {quoted(slug)} THEN ARRAY["
        + ", ".join(quoted(f) for f in sorted(field.value for field in profile.victim_fields))
        + "]::text[]"
        for slug, profile in sorted(all_profiles().items())
    )
    return f"CASE t.provider_slug {cases} ELSE '{{}}'::text[] END"


_AGE = (
    "CASE WHEN vi.date_of_birth IS NULL THEN NULL ELSE"
    f" (date_part('year', {_typed(TODAY)}) - date_part('year', vi.date_of_birth)"
    f" - CASE WHEN (date_part('month', {TODAY}), date_part('day', {TODAY}))"
    " >= (date_part('month', vi.date_of_birth), date_part('day', vi.date_of_birth)) THEN 0 ELSE 1 END)::int END"
)

# Victim leaves: the field that allows each, and the expression that shows it.
VICTIM_LEAVES: dict[str, tuple[VictimField, str]] = {
    "givenName": (VictimField.NAME, "vi.given_name"),
    "familyName": (VictimField.NAME, "vi.family_name"),
    "dateOfBirth": (VictimField.DATE_OF_BIRTH, iso_date("vi.date_of_birth")),
    "age": (VictimField.AGE, _AGE),
    "address": (VictimField.ADDRESS, "vi.address"),
    "postcode": (VictimField.ADDRESS, "vi.postcode"),
    "phone": (VictimField.PHONE, "vi.phone"),
    "email": (VictimField.EMAIL, "vi.email"),
    "language": (VictimField.LANGUAGE, "vi.language"),
    "interpreterNeeded": (VictimField.LANGUAGE, "vi.interpreter_needed"),
    "crimeCategory": (VictimField.CRIME_CATEGORY, enum_name("ca.crime_category", CrimeCategory)),
    "crimeReference": (VictimField.CRIME_REFERENCE, "ca.crime_reference"),
    "domesticAbuseRisk": (VictimField.DOMESTIC_ABUSE_RISK, enum_name("ca.domestic_abuse_risk", DomesticAbuseRisk)),
    "needs": (VictimField.NEEDS, enum_names_of_json_array("ca.needs", Need)),
    "assessmentNotes": (VictimField.ASSESSMENT_NOTES, "ca.assessment_notes"),
}
SAFE_CONTACT_LEAVES = {
    "safePhone": "vi.safe_phone",
    "safeTimes": "vi.safe_times",
    "voicemailSafe": "vi.voicemail_safe",
    "lettersSafe": "vi.letters_safe",
    "perpetratorSharesAddress": "vi.perpetrator_shares_address",
}
GUARDIAN_LEAVES = {
    "name": "vi.guardian_name",
    "relationship": "vi.guardian_relationship",
    "phone": "vi.guardian_phone",
    "email": "vi.guardian_email",
}
PRIORITY_LEAVES = {
    "mostSeriousCrime": "ca.priority_most_serious_crime",
    "persistentlyTargeted": "ca.priority_persistently_targeted",
    "vulnerableOrIntimidated": "ca.priority_vulnerable_or_intimidated",
}


def _field_names() -> str:
    """`fields`: the allowed VictimFields, sorted by value as ProviderVictimView.field_names is, shown by NAME."""
    return (
        f"(SELECT coalesce(json_agg({enum_name('allowed.value', VictimField)} ORDER BY allowed.position), '[]'::json)"
        " FROM unnest(d.allowed) WITH ORDINALITY AS allowed(value, position))"
    )


def _standing_leaves() -> dict[str, str]:
    """The victim view's fields that say what it is, rather than hold the victim's data."""
    error = quoted(TaskStatus.ENTERED_IN_ERROR.value)
    return {
        "redacted": f"(NOT {_SHOWN})",
        "redactionReason": (
            f"CASE WHEN t.status = {error} THEN {error} WHEN {_SHOWN} THEN NULL"
            " WHEN d.state = 'withdrawn' THEN 'consent-withdrawn' WHEN d.state = 'expired' THEN 'consent-expired'"
            " ELSE 'no-consent' END"
        ),
        "sharedUnderSafeguardingOverride": _OVERRIDE_SHOWN,
        "fields": _field_names(),
    } | {
        name: f"CASE WHEN {_allowed(victim_field)} THEN {expression} END"
        for name, (victim_field, expression) in VICTIM_LEAVES.items()
    }


def _victim(field: FieldNode) -> str:
    leaves = _standing_leaves()

    def build(name: str, child: FieldNode) -> str:
        if name in leaves:
            _leaf(child)
            return leaves[name]
        if name == "safeContact":
            shown = _leaves("SafeContact", child.selection_set, SAFE_CONTACT_LEAVES)
            return f"CASE WHEN {_allowed(VictimField.SAFE_CONTACT)} THEN {shown} END"
        if name == "guardian":
            shown = _leaves("Guardian", child.selection_set, GUARDIAN_LEAVES)
            return f"CASE WHEN {_allowed(VictimField.GUARDIAN)} AND vi.guardian_name IS NOT NULL THEN {shown} END"
        if name == "priorityFlags":
            shown = _leaves("PriorityFlags", child.selection_set, PRIORITY_LEAVES)
            return f"CASE WHEN {_allowed(VictimField.PRIORITY_FLAGS)} THEN {shown} END"
        raise Unsupported

    return _object("ProviderVictim", field.selection_set, build)


def _attempts(field: FieldNode) -> str:
    shown = _leaves("ContactAttempt", field.selection_set, ATTEMPT_LEAVES)
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
            _leaf(field)
            return TASK_LEAVES[name]
        if name == "victim":
            shape.victim = shape.consent = True
            return f"CASE WHEN t.provider_visible THEN {_victim(field)} END"
        if name == "consent":
            shape.consent = True
            return (
                f"CASE WHEN t.provider_visible THEN {_leaves('TaskConsent', field.selection_set, CONSENT_LEAVES)} END"
            )
        if name == "contactAttempts":
            return _attempts(field)
        raise Unsupported

    return _object("Task", selection_set, build)


# -- the statement -----------------------------------------------------------------------------------------------

_CALLER = f"""caller AS (
  SELECT it.organisation_id, it.revoked_at IS NULL AS not_revoked, c.active AS client_active,
         o.active AS organisation_active, u.active AS user_active,
         (u.id IS NULL OR EXISTS (SELECT 1 FROM json_array_elements_text(u.roles) AS r(role)
                                  WHERE r.role = ANY({_typed(GRANTING_ROLES)}))) AS granted
  FROM issued_tokens it
  JOIN oauth_clients c ON c.id = it.client_pk
  JOIN organisations o ON o.id = it.organisation_id
  LEFT JOIN users u ON u.id = it.user_id
  WHERE it.jti = {_typed(JTI)}
), allowed AS (
  SELECT organisation_id FROM caller
  WHERE not_revoked AND client_active AND organisation_active AND coalesce(user_active, true) AND granted
)"""

_PAGE = f"""page AS MATERIALIZED (
  SELECT t.*, true AS provider_visible
  FROM referral_tasks t JOIN allowed ON t.provider_organisation_id = allowed.organisation_id
  WHERE t.status <> {quoted(TaskStatus.DRAFT.value)}
    AND ({_typed(AFTER)} IS NULL OR t.id > {AFTER})
    AND (cardinality({_typed(STATUSES)}) = 0 OR t.status = ANY({STATUSES}))
    AND (NOT {_typed(OVERDUE_ONLY)} OR (t.status = {quoted(TaskStatus.REQUESTED.value)} AND t.accept_due_at < {NOW})
         OR (t.status IN {_OPEN} AND t.first_contact_at IS NULL AND t.first_contact_due_at < {NOW}))
  ORDER BY t.id LIMIT {_typed(LIMIT)}
)"""

# `overdueTasks`: the overdue open tasks the caller's organisation can see, as the Hub or as the provider
# (service.list_overdue_tasks: visible_tasks and the overdue rule), oldest first after the cursor.
_OVERDUE_PAGE = f"""page AS MATERIALIZED (
  SELECT t.*, (t.provider_organisation_id = allowed.organisation_id
               AND t.status <> {quoted(TaskStatus.DRAFT.value)}) AS provider_visible
  FROM referral_tasks t JOIN allowed
    ON t.hub_organisation_id = allowed.organisation_id
    OR (t.provider_organisation_id = allowed.organisation_id AND t.status <> {quoted(TaskStatus.DRAFT.value)})
  WHERE ({_typed(AFTER)} IS NULL OR t.id > {AFTER})
    AND ((t.status = {quoted(TaskStatus.REQUESTED.value)} AND t.accept_due_at < {_typed(NOW)})
         OR (t.status IN {_OPEN} AND t.first_contact_at IS NULL AND t.first_contact_due_at < {NOW}))
  ORDER BY t.id LIMIT {_typed(LIMIT)}
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
  WHERE t.id = {_typed(AFTER)}
)"""

_COVERS = "c.victim_id = t.victim_id AND c.provider_slugs::jsonb ? t.provider_slug"
_STANDS = f"{_COVERS} AND c.withdrawn_at IS NULL AND (w.latest IS NULL OR c.recorded_at > w.latest)"
_ERROR = quoted(TaskStatus.ENTERED_IN_ERROR.value)
# The standing of consent for each task, then what it lets the provider see: `shown` (valid consent, or an override
# no withdrawal since sending has ended, on a task not entered in error) and `allowed`, the profile's fields the
# consent's categories cover (all of them under an override), in the profile array's order: sorted by value in
# Python, so by code point whatever the database's collation.
_DECIDED = f"""standing AS MATERIALIZED (
  SELECT t.id AS task_id, t.status, t.provider_slug,
         CASE WHEN valid.found THEN newest.id END AS consent_id,
         CASE WHEN valid.found THEN newest.given_by END AS given_by,
         CASE WHEN valid.found THEN newest.method END AS method,
         CASE WHEN valid.found THEN newest.given_at END AS given_at,
         CASE WHEN valid.found THEN newest.expires_at END AS expires_at,
         CASE WHEN valid.found THEN newest.data_categories END AS data_categories,
         CASE WHEN valid.found THEN newest.data_categories::jsonb END AS categories,
         CASE WHEN valid.found THEN 'valid' WHEN newest.id IS NOT NULL THEN 'expired'
              WHEN w.latest IS NOT NULL THEN 'withdrawn' ELSE 'none' END AS state,
         (NOT valid.found AND t.safeguarding_override
          AND NOT coalesce(w.latest >= t.requested_at, false)) AS by_override
  FROM page t
  LEFT JOIN LATERAL (SELECT max(c.withdrawn_at) AS latest FROM consents c WHERE {_COVERS}) w ON true
  LEFT JOIN LATERAL (
    SELECT c.id, c.given_by, c.method, c.given_at, c.expires_at, c.data_categories,
           (c.expires_at IS NULL OR c.expires_at > {NOW}) AS unexpired
    FROM consents c WHERE {_STANDS}
    ORDER BY (c.expires_at IS NULL OR c.expires_at > {NOW}) DESC, c.recorded_at DESC, c.id DESC LIMIT 1
  ) newest ON true
  CROSS JOIN LATERAL (SELECT newest.unexpired IS TRUE AS found) valid
), decided AS MATERIALIZED (
  SELECT s.*, shown.value AS shown, shown.value AND s.by_override AS override_shown,
         CASE WHEN shown.value THEN ARRAY(
           SELECT f.value FROM unnest(profile.fields) WITH ORDINALITY AS f(value, position)
           WHERE s.by_override OR s.categories ? f.value ORDER BY f.position
         ) ELSE '{{}}'::text[] END AS allowed
  FROM standing s
  CROSS JOIN LATERAL (
    SELECT s.status <> {_ERROR} AND (s.consent_id IS NOT NULL OR s.by_override) AS value
  ) shown
  CROSS JOIN LATERAL (SELECT {_profile_fields().replace("t.provider_slug", "s.provider_slug")} AS fields) profile
)"""

_AUDIT = f"""audit AS (
  INSERT INTO audit_log ({", ".join(UNSEALED_COLUMNS)})
  SELECT {NOW}, 'disclosure', 'victim.view',
         CASE WHEN {_OVERRIDE_SHOWN} THEN {quoted(PURPOSE_SAFEGUARDING)} ELSE {quoted(PURPOSE_SUPPORT)} END,
         allowed.organisation_id, {_typed(ACTOR)}, t.victim_id, json_build_object('victim', t.victim_id, 'task', t.id),
         allowed.organisation_id, {_OVERRIDE_SHOWN}, {TRANSACTION_ID_SQL}
  FROM page t JOIN decided d ON d.task_id = t.id CROSS JOIN allowed
  WHERE {_SHOWN} AND t.provider_visible
  ORDER BY t.id
  RETURNING 1
)"""

_CURSOR = (
    f"CASE WHEN (SELECT count(*) FROM page) = {LIMIT} THEN"
    " translate(encode(convert_to('id:' || (SELECT max(id) FROM page)::text, 'UTF8'), 'base64'), '+/', '-_') END"
)


def _statement(page_object: str, shape: _TaskShape, page: str = _PAGE) -> str:
    ctes = [_CALLER, page]
    if shape.consent:
        ctes.append(_DECIDED)
    if shape.victim:
        ctes.append(_AUDIT)
    audited = "(SELECT count(*) FROM audit)" if shape.victim else "0"
    # Every parameter is named once more here, so PostgreSQL knows each type whatever the query selected.
    every_parameter = ", ".join(_typed(f"${n}") for n in range(1, 10))
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"""
SELECT caller.organisation_id IS NOT NULL AS found, caller.not_revoked, caller.client_active,
       caller.organisation_active, caller.user_active, caller.granted, {audited} AS audited,
       num_nulls({every_parameter}) AS unused,
       CASE WHEN EXISTS (SELECT 1 FROM allowed)
            THEN json_build_object('data', json_build_object({page_object}))::text END AS body
FROM (SELECT 1) AS one LEFT JOIN caller ON true"""
    )


# -- arguments ----------------------------------------------------------------------------------------------------

_STATUS_BY_NAME = {member.name: member.value for member in TaskStatus}


@dataclass(frozen=True, slots=True)
class _Argument:
    """Where an argument's value comes from: a literal of the document, a variable, or the field's default."""

    literal: Any = None
    variable: str | None = None
    required: bool = False  # a variable declared non-null: a request without it is the resolver path's to refuse


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


def _type_text(node: TypeNode) -> str:
    if isinstance(node, NonNullTypeNode):
        return _type_text(node.type) + "!"
    if isinstance(node, ListTypeNode):
        return "[" + _type_text(node.type) + "]"
    if isinstance(node, NamedTypeNode):
        return node.name.value
    raise Unsupported


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
    arguments: Mapping[str, _Argument]
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


def _inbox_request(arguments: Mapping[str, _Argument], variables: Mapping[str, Any]) -> InboxRequest | None:
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


_ID = re.compile(r"[0-9]{1,10}")


def _one_task_request(argument: _Argument, variables: Mapping[str, Any]) -> InboxRequest | None:
    """`task(id:)`'s id, when it is one a record can have (ids.record_id's rule); else the resolvers answer."""
    if argument.variable is None:
        value = argument.literal
    elif argument.variable in variables:
        value = variables[argument.variable]
    else:
        return None
    text = str(value) if type(value) in (str, int) else ""
    if _ID.fullmatch(text) is None or int(text) > MAX_RECORD_ID:
        return None
    return InboxRequest(limit=1, after_id=None, statuses=[], overdue_only=False, task_id=int(text))


def compile_inbox(operation: OperationDefinitionNode) -> CompiledInbox | None:
    """The statement for an operation selecting only `inbox`, or None when it asks for anything else."""
    try:
        return _compile(operation)
    except Unsupported:
        return None


def _compile(operation: OperationDefinitionNode) -> CompiledInbox:
    if operation.operation is not OperationType.QUERY or operation.directives:
        raise Unsupported
    roots = _fields(operation.selection_set)
    if len(roots) != 1:
        raise Unsupported
    key, inbox = roots[0]
    declared = {d.variable.name.value: d for d in operation.variable_definitions or ()}
    if inbox.name.value == "task":
        return _compile_task(key, inbox, declared)
    if inbox.name.value not in _PAGES:
        raise Unsupported
    page_cte, page_arguments = _PAGES[inbox.name.value]
    arguments: dict[str, _Argument] = {}
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
            if _type_text(definition.type) not in _VARIABLE_TYPES[name]:
                raise Unsupported
            used.add(variable)
            arguments[name] = _Argument(variable=variable, required=isinstance(definition.type, NonNullTypeNode))
        else:
            arguments[name] = _Argument(literal=_literal(name, argument.value))
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
            _leaf(field)
            return _CURSOR
        raise Unsupported

    page = _object("TaskPage", inbox.selection_set, build)
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
        if _type_text(definition.type) not in ("ID", "ID!"):
            raise Unsupported
        argument = _Argument(variable=value.name.value, required=isinstance(definition.type, NonNullTypeNode))
    elif isinstance(value, StringValueNode | IntValueNode) and not declared:
        argument = _Argument(literal=value.value)
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
