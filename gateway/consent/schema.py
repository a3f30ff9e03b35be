"""What consent mutations answer. Withdrawing a consent also cancels tasks, so its resolver sits with referrals."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gateway.consent.models import Consent
from gateway.consent.types import ConsentType
from gateway.graphql.results import OperationError


@strawberry.type
class ConsentPayload:
    consent: ConsentType

    @classmethod
    def of(cls, row: Consent) -> ConsentPayload:
        return cls(consent=ConsentType.from_row(row))


ConsentResult = Annotated[ConsentPayload | OperationError, strawberry.union("ConsentResult")]
