"""The retention schedule: how long each kind of record is kept, after which event, and what erasure does to it.

Reviewed like the provider profiles: a change here changes what the gateway erases, so it goes through review
with the data-protection officer. `gateway retention show` prints it; the gateway refuses a schedule that leaves
a kind out, names one twice, or keeps something for no time at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

__all__ = ["SCHEDULE", "Action", "Anchor", "RecordKind", "RetentionRule", "ScheduleError", "rule_for", "validate"]

YEAR = timedelta(days=365)


class RecordKind(StrEnum):
    """Every kind of record the gateway holds, as the schedule and the erasure audit rows name it."""

    VICTIM_IDENTITY = "victim-identity"
    CASE = "case"
    CONSENT = "consent"
    TASK = "task"
    CONTACT_ATTEMPT = "contact-attempt"
    OUTCOME = "outcome"
    INTAKE_REFERRED = "intake-referred"
    INTAKE_UNTRIAGED = "intake-untriaged"
    INTAKE_CLOSED = "intake-closed"
    OFFICER_NOTE = "officer-note"
    RJ_PARTY = "rj-party"
    RJ_NOTE = "rj-note"
    AUDIT_ROW = "audit-row"
    OUTBOX_EVENT = "outbox-event"
    DELIVERY_LOG = "delivery-log"
    IDEMPOTENCY_KEY = "idempotency-key"
    ISSUED_TOKEN = "issued-token"  # noqa: S105 - a kind of record, not a secret


class Anchor(StrEnum):
    """The event a record's time runs from."""

    VICTIM_LAST_TASK_CLOSED = "the victim's last task closed (or was last changed, if never sent)"
    RECEIVED = "the self-referral was received"
    TRIAGED = "the self-referral was triaged"
    RJ_CASE_CLOSED = "the RJ case closed"
    CREATED = "the row was written"
    EVENT_CREATED = "its event was written"
    EXPIRED = "the token (and any refresh token) expired"
    NEVER = "never: kept"


class Action(StrEnum):
    ERASE_FIELDS = "personal fields removed, the row kept for the figures"
    DELETE = "row deleted"
    KEEP = "kept"


@dataclass(frozen=True, slots=True)
class RetentionRule:
    kind: RecordKind
    description: str
    keep_for: timedelta | None  # None only with Action.KEEP
    after: Anchor
    action: Action
    why: str

    @property
    def period_text(self) -> str:
        if self.keep_for is None:
            return "indefinitely"
        days = self.keep_for.days
        if days % 365 == 0:
            years = days // 365
            return f"{years} year{'s' if years != 1 else ''}"
        return f"{days} days"


SIX_YEARS = 6 * YEAR

SCHEDULE: tuple[RetentionRule, ...] = (
    RetentionRule(
        RecordKind.VICTIM_IDENTITY,
        "victim identity and contact: names, date of birth, address, phone, e-mail, guardian, safe contact, language",
        SIX_YEARS,
        Anchor.VICTIM_LAST_TASK_CLOSED,
        Action.ERASE_FIELDS,
        "Limitation period for claims arising from the support; equality answers are kept as codes only, "
        "so the Commissioner's past quarters do not change.",
    ),
    RetentionRule(
        RecordKind.CASE,
        "case: crime reference and assessment notes",
        SIX_YEARS,
        Anchor.VICTIM_LAST_TASK_CLOSED,
        Action.ERASE_FIELDS,
        "As the identity; crime category, needs and risk level stay, no longer linked to anyone.",
    ),
    RetentionRule(
        RecordKind.CONSENT,
        "consent: information withheld and why",
        SIX_YEARS,
        Anchor.VICTIM_LAST_TASK_CLOSED,
        Action.ERASE_FIELDS,
        "Evidence of lawful sharing for as long as a claim could be brought; the statistics consent stays.",
    ),
    RetentionRule(
        RecordKind.TASK,
        "task: safeguarding override justification",
        SIX_YEARS,
        Anchor.VICTIM_LAST_TASK_CLOSED,
        Action.ERASE_FIELDS,
        "Status, provider and dates stay: every monitoring figure is counted from them.",
    ),
    RetentionRule(
        RecordKind.CONTACT_ATTEMPT,
        "contact attempts: when and how the victim was called",
        2 * YEAR,
        Anchor.VICTIM_LAST_TASK_CLOSED,
        Action.DELETE,
        "Needed while support runs and for complaints about it; no figure reads them.",
    ),
    RetentionRule(
        RecordKind.OUTCOME,
        "outcomes: the four measures and the provider's own",
        None,
        Anchor.NEVER,
        Action.KEEP,
        "No personal field and no free text; once the identity is erased they describe nobody, and the "
        "Commissioner's past returns are counted from them.",
    ),
    RetentionRule(
        RecordKind.INTAKE_REFERRED,
        "self-referral made into a referral: the form as the victim wrote it",
        SIX_YEARS,
        Anchor.VICTIM_LAST_TASK_CLOSED,
        Action.DELETE,
        "A copy of the identity; it goes with it.",
    ),
    RetentionRule(
        RecordKind.INTAKE_UNTRIAGED,
        "self-referral never triaged",
        timedelta(days=90),
        Anchor.RECEIVED,
        Action.DELETE,
        "Nobody acted on it within three months; holding it longer serves no purpose of the victim's.",
    ),
    RetentionRule(
        RecordKind.INTAKE_CLOSED,
        "self-referral closed without a referral (duplicate, declined, elsewhere, out of area, no contact)",
        YEAR,
        Anchor.TRIAGED,
        Action.DELETE,
        "Long enough to answer a complaint about the decision.",
    ),
    RetentionRule(
        RecordKind.OFFICER_NOTE,
        "the reasons given for rectifications and lifted legal holds",
        SIX_YEARS,
        Anchor.VICTIM_LAST_TASK_CLOSED,
        Action.ERASE_FIELDS,
        "Free text about the victim; who changed which field, and when, stays.",
    ),
    RetentionRule(
        RecordKind.RJ_PARTY,
        "RJ parties: names, phone, e-mail, safe-contact notes",
        SIX_YEARS,
        Anchor.RJ_CASE_CLOSED,
        Action.ERASE_FIELDS,
        "As casework; roles, consent and withdrawal dates stay for the RJ figures.",
    ),
    RetentionRule(
        RecordKind.RJ_NOTE,
        "RJ notes: agreement actions, conference venues and reasons",
        SIX_YEARS,
        Anchor.RJ_CASE_CLOSED,
        Action.ERASE_FIELDS,
        "Free text that can name or place people.",
    ),
    RetentionRule(
        RecordKind.AUDIT_ROW,
        "audit rows (s.62 log)",
        None,
        Anchor.NEVER,
        Action.KEEP,
        "They hold ids, never personal data, and deleting any would break the hash chain that shows tampering.",
    ),
    RetentionRule(
        RecordKind.OUTBOX_EVENT,
        "outbox events (ids only)",
        timedelta(days=90),
        Anchor.CREATED,
        Action.DELETE,
        "Only while delivery and its retries run; kept while any delivery is still pending.",
    ),
    RetentionRule(
        RecordKind.DELIVERY_LOG,
        "notification deliveries and attempts",
        timedelta(days=90),
        Anchor.EVENT_CREATED,
        Action.DELETE,
        "Go with their event.",
    ),
    RetentionRule(
        RecordKind.IDEMPOTENCY_KEY,
        "idempotency keys",
        timedelta(days=90),
        Anchor.CREATED,
        Action.DELETE,
        "Retries come within minutes or days; a key older than this is never replayed.",
    ),
    RetentionRule(
        RecordKind.ISSUED_TOKEN,
        "issued and revoked tokens",
        timedelta(days=30),
        Anchor.EXPIRED,
        Action.DELETE,
        "An expired token is refused on its own expiry; the row only helps trace misuse for a month.",
    ),
)


class ScheduleError(ValueError):
    """The schedule is not one rule per kind, or a rule contradicts itself."""


def validate(schedule: tuple[RetentionRule, ...]) -> None:
    """One rule for every kind; a period for everything erased, none for what is kept."""
    kinds = [rule.kind for rule in schedule]
    missing = sorted(set(RecordKind) - set(kinds))
    repeated = sorted({k for k in kinds if kinds.count(k) > 1})
    if missing or repeated:
        raise ScheduleError(f"retention schedule: missing {missing or 'none'}, repeated {repeated or 'none'}")
    for rule in schedule:
        if (rule.action is Action.KEEP) != (rule.keep_for is None):
            raise ScheduleError(f"retention schedule: {rule.kind} needs a period exactly when it is erased")
        if rule.keep_for is not None and rule.keep_for <= timedelta(0):
            raise ScheduleError(f"retention schedule: {rule.kind} must be kept for some time")


validate(SCHEDULE)
_BY_KIND = {rule.kind: rule for rule in SCHEDULE}


def rule_for(kind: RecordKind) -> RetentionRule:
    return _BY_KIND[kind]
