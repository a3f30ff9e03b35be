"""GraphQL inputs of the officer's tools and their conversion to the service's values."""

from __future__ import annotations

import strawberry

from gateway.data_protection.service import Correction
from gateway.data_protection.vocabularies import VictimDetail
from gateway.graphql.bounds import ADDRESS, KEY, NOTE, bounded


@strawberry.input(description="One detail and its right value; null clears a detail that may be empty.")
class CorrectionInput:
    detail: VictimDetail
    value: str | None = bounded(ADDRESS)

    def value_of(self) -> Correction:
        return Correction(detail=VictimDetail(self.detail), value=self.value)


@strawberry.input
class RectifyVictimInput:
    victim_id: strawberry.ID
    corrections: list[CorrectionInput]
    reason: str = bounded(NOTE)
    idempotency_key: str = bounded(KEY)


@strawberry.input
class PlaceLegalHoldInput:
    victim_id: strawberry.ID
    reason: str = bounded(NOTE)
    idempotency_key: str = bounded(KEY)


@strawberry.input
class LiftLegalHoldInput:
    hold_id: strawberry.ID
    idempotency_key: str = bounded(KEY)
