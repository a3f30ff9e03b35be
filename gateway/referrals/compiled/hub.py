"""The Hub's reads of its referrals compiled into one PostgreSQL statement each: `referrals(first, after)` and
`referral(id:)`, for a caller holding referrals:read.

The statement does in order what the resolver path does across its statements:

1. `caller` (common.py): the token's state by its id, and the person's roles still granting referrals:read;
2. `page`: the caller's organisation's referrals after the cursor, oldest first (service.list_referrals), or the
   one referral (service.get_referral: another organisation's and a missing one are both null), joined to
   `allowed`, so a refused token reaches no row;
3. `audit`: the consultation rows the loaders write (victims.service.load_victims, consent.service.
   load_consents_for_victims, reads.load_cases_for_referrals): one `victim.read` a victim shown, one `consent.read`
   a victim with consents shown, one `case.read` a referral whose case is shown, each once a request however
   often the document selects it, inserted unsealed in the same statement, so committed with the read;
4. the JSON in the order the query selected: the referral's own fields, its tasks' plain fields, its case, the
   Hub's record of the victim (the guardian only when the record names a way to reach one) and the victim's
   consents, newest first, each read only where the caller's organisation owns it.

What stays on the resolver path: `intakeItem`, a task's `victim`, `consent` and `contactAttempts` (scoped to
tasks:read, which the Hub's callers mostly lack, so the resolvers word the refusal), fragments, directives, other or
several root fields, and unusual variables. tests/graphql/test_compiled_hub.py checks the two paths agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from graphql import (
    FieldNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableDefinitionNode,
    VariableNode,
)

from gateway.audit.models import AuditCategory
from gateway.audit.service import TRANSACTION_ID_SQL, UNSEALED_COLUMNS
from gateway.auth.principal import Scope
from gateway.consent.models import ConsentMethod
from gateway.consent.service import PURPOSE_CONSENT
from gateway.errors import DomainError
from gateway.graphql.compiled import CompiledRequest
from gateway.graphql.compiled.sql import (
    enum_name,
    enum_names_of_json_array,
    iso_date,
    iso_datetime,
    quoted,
    record_id,
)
from gateway.graphql.pagination import decode_cursor, page_size
from gateway.referrals.compiled.common import (
    ACTOR,
    AFTER,
    CURSOR,
    LIMIT,
    NOW,
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
    typed,
    variable_argument,
)
from gateway.referrals.models import ArrivalRoute, DomesticAbuseRisk
from gateway.referrals.service.access import PURPOSE_REFERRAL
from gateway.victims.models import ConsentGiver
from gateway.victims.service import PURPOSE_HUB_CASEWORK
from providers.profile import CrimeCategory, Need, VictimField

GRANTING_REFERRALS_READ = granting(Scope.REFERRALS_READ)

# -- what the Hub sees -----------------------------------------------------------------------------------------

REFERRAL_LEAVES = {
    "id": record_id("r.id"),
    "reference": "r.reference",
    "createdAt": iso_datetime("r.created_at"),
}
CASE_LEAVES = {
    "arrivalRoute": enum_name("ca.arrival_route", ArrivalRoute),
    "reportedToPolice": "ca.reported_to_police",
    "crimeReference": "ca.crime_reference",
    "crimeCategory": enum_name("ca.crime_category", CrimeCategory),
    "domesticAbuseRisk": enum_name("ca.domestic_abuse_risk", DomesticAbuseRisk),
    "needs": enum_names_of_json_array("ca.needs", Need),
    "assessmentNotes": "ca.assessment_notes",
}
CASE_PRIORITY_LEAVES = {
    "mostSeriousCrime": "ca.priority_most_serious_crime",
    "persistentlyTargeted": "ca.priority_persistently_targeted",
    "vulnerableOrIntimidated": "ca.priority_vulnerable_or_intimidated",
}
HUB_VICTIM_LEAVES = {
    "id": record_id("v.id"),
    "givenName": "v.given_name",
    "familyName": "v.family_name",
    "dateOfBirth": iso_date("v.date_of_birth"),
    "address": "v.address",
    "postcode": "v.postcode",
    "phone": "v.phone",
    "email": "v.email",
    "language": "v.language",
    "interpreterNeeded": "v.interpreter_needed",
}
HUB_GUARDIAN_LEAVES = {
    "name": "v.guardian_name",
    "relationship": "v.guardian_relationship",
    "phone": "v.guardian_phone",
    "email": "v.guardian_email",
}
HUB_SAFE_CONTACT_LEAVES = {
    "safePhone": "v.safe_phone",
    "safeTimes": "v.safe_times",
    "voicemailSafe": "v.voicemail_safe",
    "lettersSafe": "v.letters_safe",
    "perpetratorSharesAddress": "v.perpetrator_shares_address",
}
CONSENT_RECORD_LEAVES = {
    "id": record_id("c.id"),
    "givenBy": enum_name("c.given_by", ConsentGiver),
    "method": enum_name("c.method", ConsentMethod),
    "givenAt": iso_datetime("c.given_at"),
    "providers": "c.provider_slugs::json",
    "dataCategories": enum_names_of_json_array("c.data_categories", VictimField),
    "statisticsConsent": "c.statistics_consent",
    "withheldInformation": "c.withheld_information",
    "withheldReason": "c.withheld_reason",
    "expiresAt": iso_datetime("c.expires_at"),
    "withdrawnAt": iso_datetime("c.withdrawn_at"),
}
# Guardian.from_row: a guardian only when the record names a way to reach one (an empty text names none).
_NAMES_A_GUARDIAN = "(" + " OR ".join(f"coalesce(v.guardian_{c}, '') <> ''" for c in ("name", "phone", "email")) + ")"

# Each relation's rows, as the loaders read them: owned by the referral's organisation, which `page` has already
# held to the caller's.
_OWN_VICTIM = "victims v WHERE v.id = r.victim_id AND v.hub_organisation_id = r.hub_organisation_id"
_OWN_CASE = "cases ca WHERE ca.id = r.case_id"
_OWN_CONSENTS = "consents c WHERE c.victim_id = r.victim_id AND c.hub_organisation_id = r.hub_organisation_id"
_OWN_TASKS = "referral_tasks t WHERE t.referral_id = r.id AND t.hub_organisation_id = r.hub_organisation_id"


@dataclass
class _Reads:
    """Which audited relations the document shows: each is audited once a request, as a dataloader loads it once."""

    relations: set[str] = field(default_factory=set)


def _victim(child: FieldNode, reads: _Reads) -> str:
    def build(name: str, grandchild: FieldNode) -> str:
        if name in HUB_VICTIM_LEAVES:
            leaf(grandchild)
            return HUB_VICTIM_LEAVES[name]
        if name == "guardian":
            shown = leaves("Guardian", grandchild.selection_set, HUB_GUARDIAN_LEAVES)
            return f"CASE WHEN {_NAMES_A_GUARDIAN} THEN {shown} END"
        if name == "safeContact":
            return leaves("SafeContact", grandchild.selection_set, HUB_SAFE_CONTACT_LEAVES)
        raise Unsupported

    reads.relations.add("victim")
    return f"(SELECT {json_of('Victim', child.selection_set, build)} FROM {_OWN_VICTIM})"


def _case(child: FieldNode, reads: _Reads) -> str:
    def build(name: str, grandchild: FieldNode) -> str:
        if name in CASE_LEAVES:
            leaf(grandchild)
            return CASE_LEAVES[name]
        if name == "priorityFlags":
            return leaves("PriorityFlags", grandchild.selection_set, CASE_PRIORITY_LEAVES)
        raise Unsupported

    reads.relations.add("case")
    return f"(SELECT {json_of('Case', child.selection_set, build)} FROM {_OWN_CASE})"


def _referral(selection_set: Any, reads: _Reads) -> str:
    def build(name: str, child: FieldNode) -> str:
        if name in REFERRAL_LEAVES:
            leaf(child)
            return REFERRAL_LEAVES[name]
        if name == "tasks":
            task = leaves("Task", child.selection_set, TASK_LEAVES)
            return f"(SELECT coalesce(json_agg({task} ORDER BY t.id), '[]'::json) FROM {_OWN_TASKS})"
        if name == "case":
            return _case(child, reads)
        if name == "victim":
            return _victim(child, reads)
        if name == "consents":
            reads.relations.add("consents")
            consent = leaves("Consent", child.selection_set, CONSENT_RECORD_LEAVES)
            return (
                f"(SELECT coalesce(json_agg({consent} ORDER BY c.recorded_at DESC, c.id DESC), '[]'::json)"
                f" FROM {_OWN_CONSENTS})"
            )
        raise Unsupported  # intakeItem and anything new: the resolvers answer

    return json_of("Referral", selection_set, build)


# -- the statement -----------------------------------------------------------------------------------------------

_PAGE = f"""page AS MATERIALIZED (
  SELECT r.* FROM referrals r JOIN allowed ON r.hub_organisation_id = allowed.organisation_id
  WHERE ({typed(AFTER)} IS NULL OR r.id > {AFTER})
  ORDER BY r.id LIMIT {typed(LIMIT)}
)"""
_ONE = f"""page AS MATERIALIZED (
  SELECT r.* FROM referrals r JOIN allowed ON r.hub_organisation_id = allowed.organisation_id
  WHERE r.id = {typed(AFTER)}
)"""

_CONSULTATION = quoted(AuditCategory.CONSULTATION.value)
# The rows each audited relation writes, as (action, purpose, victim, subject, FROM ...): the same values the
# service functions give their AuditRecords.
_AUDITED = {
    "victim": (
        "victim.read",
        PURPOSE_HUB_CASEWORK,
        "v.id",
        "json_build_object('victim', v.id)",
        "(SELECT DISTINCT victim_id FROM page) p JOIN victims v ON v.id = p.victim_id"
        " JOIN allowed ON v.hub_organisation_id = allowed.organisation_id",
    ),
    "consents": (
        "consent.read",
        PURPOSE_CONSENT,
        "p.victim_id",
        "json_build_object('victim', p.victim_id, 'consents', cs.ids)",
        "(SELECT DISTINCT victim_id FROM page) p CROSS JOIN allowed CROSS JOIN LATERAL ("
        " SELECT json_agg(c.id ORDER BY c.recorded_at DESC, c.id DESC) AS ids FROM consents c"
        " WHERE c.victim_id = p.victim_id AND c.hub_organisation_id = allowed.organisation_id) cs"
        " WHERE cs.ids IS NOT NULL",
    ),
    "case": (
        "case.read",
        PURPOSE_REFERRAL,
        "ca.victim_id",
        "json_build_object('referral', p.id, 'case', ca.id)",
        "page p JOIN cases ca ON ca.id = p.case_id CROSS JOIN allowed",
    ),
}


def _audit(relations: set[str]) -> str:
    selects = [
        f"SELECT {typed(NOW)}, {_CONSULTATION}, {quoted(action)}, {quoted(purpose)}, allowed.organisation_id,"
        f" {typed(ACTOR)}, {victim}, {subject}, NULL::bigint, false, {TRANSACTION_ID_SQL} FROM {rows}"
        for relation, (action, purpose, victim, subject, rows) in _AUDITED.items()
        if relation in relations
    ]
    return (
        f"audit AS (\n  INSERT INTO audit_log ({', '.join(UNSEALED_COLUMNS)})\n  "
        + "\n  UNION ALL ".join(selects)
        + "\n  RETURNING 1\n)"
    )


# -- arguments ----------------------------------------------------------------------------------------------------

_VARIABLE_TYPES = {"first": {"Int", "Int!"}, "after": {"String", "String!"}, "id": {"ID", "ID!"}}


@dataclass(frozen=True, slots=True)
class HubRequest:
    """What one request's variables make of the compiled arguments, ready to bind."""

    limit: int
    after_id: int | None


@dataclass(frozen=True, slots=True)
class CompiledHubRead:
    """One document's `referrals` or `referral`, as a statement and the way its arguments are read."""

    sql: str
    arguments: Mapping[str, Argument]
    audits: bool
    required_scope: str = Scope.REFERRALS_READ.value

    def request(self, variables: Mapping[str, Any]) -> HubRequest | None:
        """The bound arguments, or None for anything the resolver path should answer (and word the error for)."""
        if "id" in self.arguments:
            referral_id = record_id_of(self.arguments["id"], variables)
            return None if referral_id is None else HubRequest(limit=1, after_id=referral_id)
        values: dict[str, Any] = {"first": 20, "after": None}
        for name, argument in self.arguments.items():
            if argument.variable is None:
                values[name] = argument.literal
            elif argument.variable in variables:
                values[name] = variables[argument.variable]
            elif argument.required:
                return None
        first, after = values["first"], values["after"]
        if type(first) is not int or not isinstance(after, str | None):
            return None  # a null or mistyped page size: the resolvers word the refusal
        try:
            return HubRequest(limit=page_size(first), after_id=decode_cursor(after))
        except DomainError:
            return None

    def parameters(self, request: CompiledRequest, *, jti: str, actor: str, now: datetime) -> Sequence[Any]:
        assert isinstance(request, HubRequest)
        today: date = now.date()
        # The inbox's filters are not used here; bound empty, so every statement takes the same nine parameters.
        return (jti, list(GRANTING_REFERRALS_READ), now, today, request.limit, request.after_id, [], False, actor)


def compile_hub(operation: OperationDefinitionNode) -> CompiledHubRead | None:
    """The statement for an operation selecting only `referrals` or `referral`, or None for anything else."""
    try:
        return _compile(operation)
    except Unsupported:
        return None


def _compile(operation: OperationDefinitionNode) -> CompiledHubRead:
    if operation.operation is not OperationType.QUERY or operation.directives:
        raise Unsupported
    roots = fields(operation.selection_set)
    if len(roots) != 1 or roots[0][1].name.value not in ("referrals", "referral"):
        raise Unsupported
    key, root = roots[0]
    declared = {d.variable.name.value: d for d in operation.variable_definitions or ()}
    arguments = _arguments(root, declared)
    reads = _Reads()
    if root.name.value == "referral":
        value = f"(SELECT {_referral(root.selection_set, reads)} FROM page r)"
        page = _ONE
    else:

        def build(name: str, child: FieldNode) -> str:
            if name == "items":
                item = _referral(child.selection_set, reads)
                return f"(SELECT coalesce(json_agg({item} ORDER BY r.id), '[]'::json) FROM page r)"
            if name == "nextCursor":
                leaf(child)
                return CURSOR
            raise Unsupported

        value = json_of("ReferralPage", root.selection_set, build)
        page = _PAGE
    ctes = [page]
    if reads.relations:
        ctes.append(_audit(reads.relations))
    audited = "(SELECT count(*) FROM audit)" if reads.relations else "0"
    return CompiledHubRead(
        sql=statement(ctes, f"{quoted(key)}, {value}", audited=audited),
        arguments=arguments,
        audits=bool(reads.relations),
    )


def _arguments(root: FieldNode, declared: Mapping[str, VariableDefinitionNode]) -> dict[str, Argument]:
    """Where each argument's value comes from; every declared variable used once, as validation demands."""
    accepted = ("first", "after") if root.name.value == "referrals" else ("id",)
    arguments: dict[str, Argument] = {}
    for argument in root.arguments or ():
        name, value = argument.name.value, argument.value
        if name not in accepted or name in arguments:
            raise Unsupported
        if isinstance(value, VariableNode):
            if any(a.variable == value.name.value for a in arguments.values()):
                raise Unsupported
            arguments[name] = variable_argument(declared.get(value.name.value), _VARIABLE_TYPES[name])
        elif isinstance(value, NullValueNode):
            raise Unsupported  # explicit nulls: the resolver path says what they mean
        elif name == "first" and isinstance(value, IntValueNode):
            arguments[name] = Argument(literal=int(value.value))
        elif (name in ("after", "id") and isinstance(value, StringValueNode)) or (
            name == "id" and isinstance(value, IntValueNode)
        ):
            arguments[name] = Argument(literal=value.value)
        else:
            raise Unsupported
    if {a.variable for a in arguments.values() if a.variable is not None} != set(declared):
        raise Unsupported  # an unused variable is a validation error the resolver path reports
    if root.name.value == "referral" and "id" not in arguments:
        raise Unsupported

    return arguments
