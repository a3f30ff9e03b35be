"""Expected failures of domain rules: a stable machine code and a message that never holds personal data."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    NOT_FOUND = "not-found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    INVALID_TRANSITION = "invalid-transition"
    CONSENT_REQUIRED = "consent-required"
    NOT_ELIGIBLE = "not-eligible"
    VALIDATION = "validation"
    OVERRIDE_JUSTIFICATION_REQUIRED = "override-justification-required"
    IDEMPOTENCY_KEY_REUSED = "idempotency-key-reused"
    OUTCOME_REQUIRED = "outcome-required"
    ACCREDITATION_EXPIRED = "accreditation-expired"
    SUPERVISOR_APPROVAL_REQUIRED = "supervisor-approval-required"
    CASE_HALTED = "case-halted"
    FACILITATOR_DOUBLE_BOOKED = "facilitator-double-booked"
    PARTY_DOUBLE_BOOKED = "party-double-booked"
    VENUE_TAKEN = "venue-taken"
    # An RJ party's own consent is missing; the code names the party's role, never the person.
    HARMED_CONSENT_REQUIRED = "harmed-consent-required"
    RESPONSIBLE_CONSENT_REQUIRED = "responsible-consent-required"
    SUPPORTER_CONSENT_REQUIRED = "supporter-consent-required"


class DomainError(Exception):
    """A rule refused the operation. The caller rolls back; the GraphQL layer maps `code` to a result member."""

    # The GraphQL layer's error masking lets errors through only when `public` is true.
    public: ClassVar[bool] = True
    default_code: ClassVar[ErrorCode] = ErrorCode.VALIDATION
    default_message: ClassVar[str] = "The request is not valid."

    def __init__(self, message: str | None = None) -> None:
        self.code: ErrorCode = self.default_code
        self.message: str = message or self.default_message
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code.value!r}, message={self.message!r})"


class NotFound(DomainError):
    """Missing and not-yours are the same answer, so the error reveals nothing about existence."""

    default_code = ErrorCode.NOT_FOUND
    default_message = "Not found."


class Forbidden(DomainError):
    default_code = ErrorCode.FORBIDDEN
    default_message = "You do not have permission to do this."


class Conflict(DomainError):
    default_code = ErrorCode.CONFLICT
    default_message = "Someone else changed this first; reload and try again."


class InvalidTransition(DomainError):
    default_code = ErrorCode.INVALID_TRANSITION
    default_message = "That change is not allowed from the current state."


class ConsentRequired(DomainError):
    default_code = ErrorCode.CONSENT_REQUIRED
    default_message = "There is no valid consent covering this provider."


class NotEligible(DomainError):
    default_code = ErrorCode.NOT_ELIGIBLE
    default_message = "The case does not meet the provider's eligibility."


class ValidationFailed(DomainError):
    default_code = ErrorCode.VALIDATION
    default_message = "The request is not valid."


class OverrideJustificationRequired(DomainError):
    default_code = ErrorCode.OVERRIDE_JUSTIFICATION_REQUIRED
    default_message = "A safeguarding override needs a written justification."


class IdempotencyKeyReused(DomainError):
    default_code = ErrorCode.IDEMPOTENCY_KEY_REUSED
    default_message = "This idempotency key was already used for a different request."


class OutcomeRequired(DomainError):
    default_code = ErrorCode.OUTCOME_REQUIRED
    default_message = "Completing a task needs an outcome record covering the four Ministry of Justice measures."


class AccreditationExpired(DomainError):
    default_code = ErrorCode.ACCREDITATION_EXPIRED
    default_message = "That facilitator's accreditation has expired; they cannot be assigned or booked."


class SupervisorApprovalRequired(DomainError):
    default_code = ErrorCode.SUPERVISOR_APPROVAL_REQUIRED
    default_message = "A sensitive case needs a case supervisor's approval of its assessment before it can progress."


class CaseHalted(DomainError):
    default_code = ErrorCode.CASE_HALTED
    default_message = "A party has withdrawn, so the case is halted; it can only be closed."


class FacilitatorDoubleBooked(DomainError):
    default_code = ErrorCode.FACILITATOR_DOUBLE_BOOKED
    default_message = "A facilitator is already booked for another conference at that time."


class PartyDoubleBooked(DomainError):
    default_code = ErrorCode.PARTY_DOUBLE_BOOKED
    default_message = "A participant is already booked for another conference at that time."


class VenueTaken(DomainError):
    default_code = ErrorCode.VENUE_TAKEN
    default_message = "The venue is already booked for another conference at that time."


class PartyConsentRequired(DomainError):
    """An RJ step needs the consent of a party in a role (harmed, responsible, supporter) that has not given it."""

    default_code = ErrorCode.HARMED_CONSENT_REQUIRED
    _CODES: ClassVar[dict[str, ErrorCode]] = {
        "harmed": ErrorCode.HARMED_CONSENT_REQUIRED,
        "responsible": ErrorCode.RESPONSIBLE_CONSENT_REQUIRED,
        "supporter": ErrorCode.SUPPORTER_CONSENT_REQUIRED,
    }
    _PEOPLE: ClassVar[dict[str, str]] = {
        "harmed": "the person harmed",
        "responsible": "the person responsible",
        "supporter": "a supporter",
    }

    def __init__(self, role: str, step: str = "this step") -> None:
        person = self._PEOPLE.get(role, "a party")
        super().__init__(f"The consent and willingness of {person} is needed before {step}.")
        self.code = self._CODES.get(role, ErrorCode.HARMED_CONSENT_REQUIRED)
