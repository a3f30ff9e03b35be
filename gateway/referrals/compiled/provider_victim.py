"""What a provider may see of a task's victim, in SQL: the standing of consent behind each task (`decided`), the
victim's fields the profile and the consent allow, shown or redacted with the reason, and the disclosure rows that
showing them writes (`audit`). gateway/referrals/compiled/provider.py puts these in its statements."""

from __future__ import annotations

from graphql import FieldNode

from gateway.audit.service import TRANSACTION_ID_SQL, UNSEALED_COLUMNS
from gateway.consent.models import ConsentMethod
from gateway.graphql.compiled.sql import enum_name, enum_names_of_json_array, iso_date, iso_datetime, quoted
from gateway.referrals.compiled.common import ACTOR, NOW, TODAY, Unsupported, json_of, leaf, leaves, typed
from gateway.referrals.models import DomesticAbuseRisk, TaskStatus
from gateway.referrals.service.access import PURPOSE_SAFEGUARDING, PURPOSE_SUPPORT
from gateway.victims.models import ConsentGiver
from providers.profile import CrimeCategory, Need, VictimField
from providers.registry import all_profiles

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
    f" (date_part('year', {typed(TODAY)}) - date_part('year', vi.date_of_birth)"
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


def victim_json(field: FieldNode) -> str:
    standing = _standing_leaves()

    def build(name: str, child: FieldNode) -> str:
        if name in standing:
            leaf(child)
            return standing[name]
        if name == "safeContact":
            shown = leaves("SafeContact", child.selection_set, SAFE_CONTACT_LEAVES)
            return f"CASE WHEN {_allowed(VictimField.SAFE_CONTACT)} THEN {shown} END"
        if name == "guardian":
            shown = leaves("Guardian", child.selection_set, GUARDIAN_LEAVES)
            return f"CASE WHEN {_allowed(VictimField.GUARDIAN)} AND vi.guardian_name IS NOT NULL THEN {shown} END"
        if name == "priorityFlags":
            shown = leaves("PriorityFlags", child.selection_set, PRIORITY_LEAVES)
            return f"CASE WHEN {_allowed(VictimField.PRIORITY_FLAGS)} THEN {shown} END"
        raise Unsupported

    return json_of("ProviderVictim", field.selection_set, build)


_COVERS = "c.victim_id = t.victim_id AND c.provider_slugs::jsonb ? t.provider_slug"
_STANDS = f"{_COVERS} AND c.withdrawn_at IS NULL AND (w.latest IS NULL OR c.recorded_at > w.latest)"
_ERROR = quoted(TaskStatus.ENTERED_IN_ERROR.value)
# The standing of consent for each task, then what it lets the provider see: `shown` (valid consent, or an override
# no withdrawal since sending has ended, on a task not entered in error) and `allowed`, the profile's fields the
# consent's categories cover (all of them under an override), in the profile array's order: sorted by value in
# Python, so by code point whatever the database's collation.
DECIDED = f"""standing AS MATERIALIZED (
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

AUDIT = f"""audit AS (
  INSERT INTO audit_log ({", ".join(UNSEALED_COLUMNS)})
  SELECT {NOW}, 'disclosure', 'victim.view',
         CASE WHEN {_OVERRIDE_SHOWN} THEN {quoted(PURPOSE_SAFEGUARDING)} ELSE {quoted(PURPOSE_SUPPORT)} END,
         allowed.organisation_id, {typed(ACTOR)}, t.victim_id, json_build_object('victim', t.victim_id, 'task', t.id),
         allowed.organisation_id, {_OVERRIDE_SHOWN}, {TRANSACTION_ID_SQL}
  FROM page t JOIN decided d ON d.task_id = t.id CROSS JOIN allowed
  WHERE {_SHOWN} AND t.provider_visible
  ORDER BY t.id
  RETURNING 1
)"""
