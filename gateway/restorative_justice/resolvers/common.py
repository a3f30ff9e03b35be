"""What every RJ resolver shares: the permission classes, and how a service change maps to its GraphQL result.
Apart so each family of mutations, and the queries, use one mapping per result type.
"""

from __future__ import annotations

from gateway.auth.principal import Scope
from gateway.db import AsyncSession
from gateway.graphql.caller import caller
from gateway.graphql.context import Info
from gateway.graphql.permissions import requires, requires_any
from gateway.graphql.results import Change, perform, perform_change
from gateway.restorative_justice import service
from gateway.restorative_justice.models import CaseNote, Conference, Facilitator, Party, RjCase
from gateway.restorative_justice.types import (
    RjCalendarFeedPayload,
    RjCaseNotePayload,
    RjCaseNoteResult,
    RjCaseNoteType,
    RjCasePayload,
    RjCaseResult,
    RjCaseType,
    RjConferencePayload,
    RjConferenceResult,
    RjConferenceType,
    RjFacilitatorPayload,
    RjFacilitatorResult,
    RjFacilitatorType,
    RjPartyPayload,
    RjPartyRefType,
    RjPartyResult,
)

MANAGE = requires(Scope.RJ_MANAGE)
CASEWORK = requires_any(Scope.RJ_MANAGE, Scope.RJ_FACILITATE)


async def case_result(info: Info, change: Change[RjCase]) -> RjCaseResult:
    return await perform_change(info, change, lambda case: RjCasePayload(case=RjCaseType.from_row(case)))


async def party_result(info: Info, change: Change[Party]) -> RjPartyResult:
    return await perform_change(info, change, lambda party: RjPartyPayload(party=RjPartyRefType.from_row(party)))


async def facilitator_result(info: Info, change: Change[Facilitator]) -> RjFacilitatorResult:
    return await perform_change(
        info, change, lambda row: RjFacilitatorPayload(facilitator=RjFacilitatorType.from_row(row))
    )


async def conference_result(info: Info, change: Change[Conference]) -> RjConferenceResult:
    async def run(db: AsyncSession) -> RjConferencePayload:
        conference = await change(db, caller(info))
        assert conference.id is not None
        participants, facilitators = await service.load_conference_links(db=db, conference_ids=[conference.id])
        return RjConferencePayload(
            conference=RjConferenceType.from_row(conference, participants[conference.id], facilitators[conference.id])
        )

    return await perform(info, run)


async def note_result(info: Info, change: Change[CaseNote]) -> RjCaseNoteResult:
    return await perform_change(info, change, lambda note: RjCaseNotePayload(note=RjCaseNoteType.from_row(note)))


def calendar_feed(issued: service.IssuedFeedToken) -> RjCalendarFeedPayload:
    return RjCalendarFeedPayload(
        facilitator=RjFacilitatorType.from_row(issued.facilitator), feed_path=f"/rj/calendar.ics?token={issued.token}"
    )
