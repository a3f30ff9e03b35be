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
