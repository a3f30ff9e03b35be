"""Who reaches which RJ case, loading what they reach, and the opening every change of a case shares.

Who reaches what is decided in SQL: the RJ co-ordinator (rj:manage) reaches every case of the RJ hub, a
facilitator (rj:facilitate, a signed-in user) only the cases they are lead or co-facilitator on. No other
organisation reaches anything here; missing and not-yours raise the same NotFound.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from gateway.audit.models import AuditCategory
from gateway.audit.service import AuditRecord, append_audit
from gateway.auth.principal import Principal, Scope
from gateway.db import AsyncSession
from gateway.errors import Forbidden, NotFound
from gateway.idempotency.service import IdempotencyClaim, claim_for, remember_result
from gateway.kit import first_or_not_found
from gateway.restorative_justice.models import CaseNote, Conference, Facilitator, Party, RjCase, RjStage
from gateway.restorative_justice.service.rules import require_stage

RJ_HUB_SLUG = "rj-hub"
PURPOSE_RJ = "restorative-justice"
MANAGE = (Scope.RJ_MANAGE,)
CASEWORK = (Scope.RJ_MANAGE, Scope.RJ_FACILITATE)

# Ids a change adds to its audit record, beyond the case it changed.
SubjectIds = dict[str, Any]
OfCase = TypeVar("OfCase", Party, Conference, CaseNote)
Result = TypeVar("Result", RjCase, Party, Conference, CaseNote)


@dataclass(frozen=True, slots=True)
class CaseStep:
    """One kind of change to a case: what its key and audit record are called, when and by whom it may be made."""

    operation: str
    # None: the change checks the stage itself (closing, or assigning facilitators to a halted case).
    stages: tuple[RjStage, ...] | None
    scopes: tuple[Scope, ...] = CASEWORK
    category: AuditCategory = AuditCategory.ALTERATION


def require_rj_hub(actor: Principal, *scopes: Scope) -> None:
    """Refuse unless the caller belongs to the RJ hub and holds one of the scopes."""
    # A client of another organisation mistakenly granted an RJ scope still reaches nothing here.
    if actor.organisation_slug != RJ_HUB_SLUG or not any(actor.has(scope) for scope in scopes):
        raise Forbidden()


def _my_facilitator_id(actor: Principal) -> Any:
    return (
        select(Facilitator.id)
        .where(col(Facilitator.user_id) == actor.user_id, col(Facilitator.organisation_id) == actor.organisation_id)
        .scalar_subquery()
    )


def visible_cases(actor: Principal) -> ColumnElement[bool]:
    """The co-ordinator's organisation's cases, or a facilitator's assigned ones: a WHERE clause, never a check."""
    own_organisation = col(RjCase.organisation_id) == actor.organisation_id
    if actor.organisation_slug == RJ_HUB_SLUG and actor.has(Scope.RJ_MANAGE):
        return own_organisation
    if actor.organisation_slug == RJ_HUB_SLUG and actor.has(Scope.RJ_FACILITATE) and actor.user_id is not None:
        mine = _my_facilitator_id(actor)
        return sa.and_(
            own_organisation, sa.or_(col(RjCase.lead_facilitator_id) == mine, col(RjCase.co_facilitator_id) == mine)
        )
    raise Forbidden()


async def load_case(db: AsyncSession, actor: Principal, case_id: int, *, lock: bool = False) -> RjCase:
    """A case the actor may see, locked for a change when asked."""
    query = select(RjCase).where(col(RjCase.id) == case_id, visible_cases(actor))
    if lock:
        query = query.with_for_update()  # PostgreSQL serialises racing transitions; SQLite has one writer anyway
    return await first_or_not_found(db, query)


async def _load_with_case(
    db: AsyncSession, actor: Principal, model: type[OfCase], row_id: int
) -> tuple[OfCase, RjCase]:
    row = (
        await db.exec(
            select(model, RjCase)
            .join(RjCase, col(RjCase.id) == col(model.case_id))
            .where(col(model.id) == row_id, visible_cases(actor))
        )
    ).first()
    if row is None:
        raise NotFound()
    return row[0], row[1]


async def load_party(db: AsyncSession, actor: Principal, party_id: int) -> tuple[Party, RjCase]:
    """A party of a case the actor may see, with that case."""
    return await _load_with_case(db, actor, Party, party_id)


async def load_conference(db: AsyncSession, actor: Principal, conference_id: int) -> tuple[Conference, RjCase]:
    """A conference of a case the actor may see, with that case."""
    return await _load_with_case(db, actor, Conference, conference_id)


def organisation_facilitators(actor: Principal) -> SelectOfScalar[Facilitator]:
    """The facilitators of the actor's organisation: the query every facilitator lookup starts from."""
    return select(Facilitator).where(col(Facilitator.organisation_id) == actor.organisation_id)


async def load_facilitator(db: AsyncSession, actor: Principal, facilitator_id: int) -> Facilitator:
    """A facilitator of the actor's organisation."""
    return await first_or_not_found(db, organisation_facilitators(actor).where(col(Facilitator.id) == facilitator_id))


async def own_facilitator(db: AsyncSession, actor: Principal) -> Facilitator:
    """The facilitator the signed-in actor is; a machine client or a user who is none gets NotFound."""
    if actor.user_id is None:
        raise NotFound()
    return await first_or_not_found(
        db, organisation_facilitators(actor).where(col(Facilitator.user_id) == actor.user_id)
    )


async def case_parties(db: AsyncSession, case_id: int) -> list[Party]:
    """Every party of a case the caller has already been allowed to load."""
    return list((await db.exec(select(Party).where(col(Party.case_id) == case_id))).all())


def audit_record(action: str, category: AuditCategory = AuditCategory.ALTERATION, **subject_ids: Any) -> AuditRecord:
    """An audit record of RJ work: every RJ record states the restorative-justice purpose."""
    return AuditRecord(category=category, action=action, purpose=PURPOSE_RJ, subject_ids=subject_ids)


async def finish(
    db: AsyncSession, actor: Principal, claim: IdempotencyClaim, result_id: int, records: Sequence[AuditRecord]
) -> None:
    """Flush the change, audit it and remember its result for a retry with the same key."""
    await db.flush()
    await append_audit(db=db, actor=actor, records=records)
    await remember_result(db=db, claim=claim, result_id=result_id)


async def _take_step(
    db: AsyncSession,
    actor: Principal,
    step: CaseStep,
    case_id: int,
    idempotency_key: str,
    request: dict[str, Any],
    *,
    replay: Callable[[int], Awaitable[Result]],
    take: Callable[[RjCase], Awaitable[tuple[Result, SubjectIds]]],
) -> Result:
    require_rj_hub(actor, *step.scopes)
    claim = await claim_for(
        db=db, actor=actor, operation=step.operation, key=idempotency_key, request={"c": case_id, **request}
    )
    if claim.replayed_result_id is not None:
        return await replay(claim.replayed_result_id)
    case = await load_case(db, actor, case_id, lock=True)
    if step.stages is not None:
        require_stage(case, *step.stages)
    result, subject_ids = await take(case)
    db.add(case)
    assert case.id is not None and result.id is not None
    audit = audit_record(step.operation, step.category, rj_case=case.id, **subject_ids)
    await finish(db, actor, claim, result.id, [audit])
    return result


async def change_case(
    db: AsyncSession,
    actor: Principal,
    step: CaseStep,
    case_id: int,
    idempotency_key: str,
    request: dict[str, Any],
    *,
    change: Callable[[RjCase], Awaitable[SubjectIds]],
) -> RjCase:
    """A retry replays the first result; else the case is locked, its stage checked, changed and audited once."""

    async def changed(case: RjCase) -> tuple[RjCase, SubjectIds]:
        return case, await change(case)

    async def replay(result_id: int) -> RjCase:
        return await load_case(db, actor, result_id)

    return await _take_step(db, actor, step, case_id, idempotency_key, request, replay=replay, take=changed)


async def add_to_case(
    db: AsyncSession,
    actor: Principal,
    step: CaseStep,
    model: type[OfCase],
    case_id: int,
    idempotency_key: str,
    request: dict[str, Any],
    *,
    add: Callable[[RjCase], Awaitable[tuple[OfCase, SubjectIds]]],
) -> OfCase:
    """A retry replays the first result; else a party or conference is added to the locked case once, audited."""

    async def replay(result_id: int) -> OfCase:
        return (await _load_with_case(db, actor, model, result_id))[0]

    return await _take_step(db, actor, step, case_id, idempotency_key, request, replay=replay, take=add)


async def change_in_case(
    db: AsyncSession,
    actor: Principal,
    model: type[OfCase],
    operation: str,
    row_id: int,
    idempotency_key: str,
    request: dict[str, Any],
    *,
    change: Callable[[OfCase, RjCase], Awaitable[SubjectIds]],
) -> OfCase:
    """A party or a conference changed: a retry replays the first result; else it is changed and audited once."""
    claim = await claim_for(db=db, actor=actor, operation=operation, key=idempotency_key, request=request)
    row, case = await _load_with_case(db, actor, model, claim.replayed_result_id or row_id)
    if claim.replayed_result_id is not None:
        return row
    subject_ids = await change(row, case)
    db.add(row)
    assert row.id is not None
    await finish(db, actor, claim, row.id, [audit_record(operation, rj_case=case.id, **subject_ids)])
    return row
