"""Who reaches RJ cases, decided in SQL: facilitator A never reaches facilitator B's cases; no one outside the hub.

Facilitators are people: these Principals are what their signed-in tokens become (user id, rj-facilitator role),
built directly so the scoping rule is tested on both databases without a browser sign-in.
"""

from __future__ import annotations

import pytest

from gateway.auth.principal import Principal, Role, Scope, scopes_for_roles
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import DomainError, ErrorCode
from gateway.restorative_justice import service as rj
from tests.restorative_justice.conftest import RjWorld, new_case
from tests.support.domain import World, key


async def test_facilitator_a_reaches_only_the_cases_assigned_to_them(db: AsyncSession, rjw: RjWorld) -> None:
    # Given one case led by A and one led by B
    mine = await new_case(db, rjw)
    theirs = await new_case(db, rjw, lead=rjw.facilitator_b_id, names=(("Ann", "One"), ("Bo", "Two")))
    a = rjw.as_facilitator_a
    # Then A lists, reads and has on their caseload only their own
    assert [c.id for c in await rj.list_cases(db=db, actor=a)] == [mine.id]
    assert [e.case.id for e in await rj.list_caseload(db=db, actor=a)] == [mine.id]
    assert (await rj.get_case_detail(db=db, actor=a, case_id=mine.id)).case.id == mine.id
    # And B's case is not found, for reading or for changing, exactly as a missing one would be
    for attempt in (
        rj.get_case(db=db, actor=a, case_id=theirs.id),
        rj.get_case_detail(db=db, actor=a, case_id=theirs.id),
        rj.get_case(db=db, actor=a, case_id=999_999),
        rj.record_initial_contact(db=db, actor=a, case_id=theirs.id, contacted_at=utc_now(), idempotency_key=key()),
        rj.withdraw_party(db=db, actor=a, party_id=theirs.harmed_id, idempotency_key=key()),
        rj.rotate_feed_token(db=db, actor=a, facilitator_id=rjw.facilitator_b_id),
    ):
        with pytest.raises(DomainError) as refusal:
            await attempt
        await db.rollback()
        assert refusal.value.code is ErrorCode.NOT_FOUND
    # And the co-ordinator sees both, and B's caseload on request
    assert [c.id for c in await rj.list_cases(db=db, actor=rjw.coordinator_client)] == [mine.id, theirs.id]
    caseload = await rj.list_caseload(db=db, actor=rjw.coordinator_client, facilitator_id=rjw.facilitator_b_id)
    assert [(e.case.id, e.role) for e in caseload] == [(theirs.id, "lead")]


async def test_no_one_outside_the_rj_hub_reaches_rj_cases_even_with_an_rj_scope(
    db: AsyncSession, rjw: RjWorld, world: World
) -> None:
    cpn_id = world.org_id("cpn")
    await new_case(db, rjw)
    outsiders = [
        # a provider's caseworker
        Principal(
            organisation_id=cpn_id,
            organisation_slug="cpn",
            scopes=scopes_for_roles(frozenset({Role.PROVIDER_CASEWORKER})),
            roles=frozenset({Role.PROVIDER_CASEWORKER}),
            user_id=77,
        ),
        # a provider's client mistakenly granted rj:manage
        Principal(
            organisation_id=cpn_id, organisation_slug="cpn", scopes=frozenset({Scope.RJ_MANAGE}), client_id="cpn-x"
        ),
        # an RJ hub user with no RJ role (e.g. tasks only)
        Principal(
            organisation_id=rjw.rj_hub_id,
            organisation_slug="rj-hub",
            scopes=frozenset({Scope.TASKS_READ}),
            client_id="rj-tasks",
        ),
    ]
    for outsider in outsiders:
        with pytest.raises(DomainError) as refusal:
            await rj.list_cases(db=db, actor=outsider)
        assert refusal.value.code is ErrorCode.FORBIDDEN
