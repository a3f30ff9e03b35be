"""Erasing whole victims: which victims are past their time and not held, and what erasing each of their records
does (blank, clear or delete), checked again under the victims' row locks inside the transaction that erases them.
Apart from the sweeps of records not tied to one victim, whose unit is a batch of rows rather than a victim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from gateway.data_protection.schedule import RecordKind, rule_for
from gateway.data_protection.service.retention_tables import (
    ATTEMPTS,
    CASES,
    CONSENTS,
    HOLDS,
    INTAKE,
    RECTIFICATIONS,
    REFERRALS,
    TASKS,
    UTC_DATETIME,
    VICTIMS,
    Erased,
    execute,
    fetch_rows,
)
from gateway.db import AsyncSession
from gateway.monitoring.service.cells import ETHNIC_GROUPS, UNRECOGNISED
from gateway.referrals.models import OPEN_STATUSES
from gateway.victims.models import AgeBand, Disability, Sex

# The order a victim's records go in; the identity last, so a victim whose name is blank has nothing left to erase.
VICTIM_KINDS = (
    RecordKind.CONTACT_ATTEMPT,
    RecordKind.TASK,
    RecordKind.CASE,
    RecordKind.CONSENT,
    RecordKind.INTAKE_REFERRED,
    RecordKind.OFFICER_NOTE,
    RecordKind.VICTIM_IDENTITY,
)


def victim_standing(now: datetime) -> Any:
    """Per victim not yet erased: whether it is held and when its last task closed, if none is open."""
    anchor = sa.type_coerce(
        sa.func.coalesce(sa.func.max(sa.func.coalesce(TASKS.c.closed_at, TASKS.c.updated_at)), VICTIMS.c.updated_at),
        UTC_DATETIME,
    )
    still_open = sa.func.coalesce(
        sa.func.sum(sa.case((TASKS.c.status.in_([s.value for s in OPEN_STATUSES]), 1), else_=0)), 0
    )
    held = sa.exists().where(HOLDS.c.victim_id == VICTIMS.c.id, HOLDS.c.lifted_at.is_(None))
    # Past the shortest period of any victim kind: the candidates; each kind is checked against its own.
    soonest = max(_cutoff_value(k, now) for k in VICTIM_KINDS)
    return (
        sa.select(VICTIMS.c.id, VICTIMS.c.hub_organisation_id, held.label("held"), anchor.label("anchor"))
        .select_from(VICTIMS.outerjoin(TASKS, TASKS.c.victim_id == VICTIMS.c.id))
        .where(VICTIMS.c.given_name != "")
        .group_by(VICTIMS.c.id, VICTIMS.c.hub_organisation_id, VICTIMS.c.updated_at)
        .having(still_open == 0, anchor < sa.literal(soonest, UTC_DATETIME))
    )


def _cutoff_value(kind: RecordKind, now: datetime) -> datetime:
    keep_for = rule_for(kind).keep_for
    assert keep_for is not None
    return now - keep_for


def _coded(column: Any, codes: Sequence[str]) -> Any:
    """An equality answer as the code monitoring reads it; anything else, which could be free text, goes."""
    return sa.case((column.is_(None), None), (column.in_(list(codes)), column), else_=UNRECOGNISED)


def _anonymous_victim() -> dict[str, Any]:
    """Every personal field blank; the equality answers as the codes monitoring counts, computed in the UPDATE."""
    v = VICTIMS.c
    return {
        "given_name": "",
        "family_name": "",
        "date_of_birth": None,
        "address": None,
        "postcode": None,
        "phone": None,
        "email": None,
        "guardian_name": None,
        "guardian_relationship": None,
        "guardian_phone": None,
        "guardian_email": None,
        "safe_phone": None,
        "safe_times": None,
        "voicemail_safe": False,
        "letters_safe": False,
        "perpetrator_shares_address": False,
        "language": None,
        "interpreter_needed": False,
        "equality_age_band": _coded(v.equality_age_band, [a.value for a in AgeBand]),
        "equality_sex": _coded(v.equality_sex, [s.value for s in Sex]),
        "equality_ethnicity": _coded(sa.func.lower(v.equality_ethnicity), ETHNIC_GROUPS),
        "equality_disability": _coded(v.equality_disability, [d.value for d in Disability]),
    }


@dataclass(frozen=True, slots=True)
class _Part:
    """Rows of some victims' in one table: a SELECT of (id, victim id) for them, and what erasing does to them."""

    subject: str
    table: sa.Table
    rows: Callable[[Sequence[int]], Any]
    erase: dict[str, Any] | None  # None: delete


def _owned(table: sa.Table, *extra: ColumnElement[bool]) -> Callable[[Sequence[int]], Any]:
    return lambda victims: sa.select(table.c.id, table.c.victim_id).where(table.c.victim_id.in_(victims), *extra)


_VICTIM_PARTS: dict[RecordKind, tuple[_Part, ...]] = {
    RecordKind.CONTACT_ATTEMPT: (
        _Part(
            "contact_attempt",
            ATTEMPTS,
            lambda victims: (
                sa.select(ATTEMPTS.c.id, TASKS.c.victim_id)
                .join(TASKS, TASKS.c.id == ATTEMPTS.c.task_id)
                .where(TASKS.c.victim_id.in_(victims))
            ),
            None,
        ),
    ),
    RecordKind.TASK: (
        _Part(
            "task",
            TASKS,
            _owned(TASKS, TASKS.c.override_justification.is_not(None)),
            {"override_justification": None},
        ),
    ),
    RecordKind.CASE: (
        _Part(
            "case",
            CASES,
            _owned(CASES, sa.or_(CASES.c.crime_reference.is_not(None), CASES.c.assessment_notes.is_not(None))),
            {"crime_reference": None, "assessment_notes": None},
        ),
    ),
    RecordKind.CONSENT: (
        _Part(
            "consent",
            CONSENTS,
            _owned(
                CONSENTS,
                sa.or_(CONSENTS.c.withheld_information.is_not(None), CONSENTS.c.withheld_reason.is_not(None)),
            ),
            {"withheld_information": None, "withheld_reason": None},
        ),
    ),
    RecordKind.INTAKE_REFERRED: (
        _Part(
            "self_referral",
            INTAKE,
            lambda victims: (
                sa.select(INTAKE.c.id, REFERRALS.c.victim_id)
                .join(REFERRALS, REFERRALS.c.id == INTAKE.c.referral_id)
                .where(REFERRALS.c.victim_id.in_(victims))
            ),
            None,
        ),
    ),
    RecordKind.OFFICER_NOTE: (
        _Part(
            "rectification",
            RECTIFICATIONS,
            _owned(RECTIFICATIONS, RECTIFICATIONS.c.reason.is_not(None)),
            {"reason": None},
        ),
        # A standing hold stops the whole erasure; only the reasons of lifted holds reach here.
        _Part(
            "legal_hold",
            HOLDS,
            _owned(HOLDS, HOLDS.c.lifted_at.is_not(None), HOLDS.c.reason.is_not(None)),
            {"reason": None},
        ),
    ),
    RecordKind.VICTIM_IDENTITY: (
        _Part(
            "victim",
            VICTIMS,
            lambda victims: sa.select(VICTIMS.c.id, VICTIMS.c.id.label("victim_id")).where(
                VICTIMS.c.id.in_(victims), VICTIMS.c.given_name != ""
            ),
            _anonymous_victim(),
        ),
    ),
}


async def _erase_part(db: AsyncSession, part: _Part, victims: Sequence[int]) -> list[tuple[int, int]]:
    found = [(int(r[0]), int(r[1])) for r in await fetch_rows(db, part.rows(victims))]
    if found:
        chosen = part.table.c.id.in_([row_id for row_id, _ in found])
        if part.erase is None:
            await execute(db, part.table.delete().where(chosen))
        else:
            await execute(db, part.table.update().where(chosen).values(**part.erase))
    return found


async def erase_victims(db: AsyncSession, victim_ids: Sequence[int], now: datetime) -> tuple[list[Erased], int]:
    """Everything of these victims' that is past its time, after checking again under their row locks that it is.

    Returns what was erased and how many victims it touched. A victim is erased whole within this transaction or
    not at all, so the transaction is the unit a killed run can stop between.
    """
    locked = sa.select(VICTIMS.c.id).where(VICTIMS.c.id.in_(victim_ids)).order_by(VICTIMS.c.id).with_for_update()
    await fetch_rows(db, locked)
    standing = await fetch_rows(db, victim_standing(now).where(VICTIMS.c.id.in_(victim_ids)))
    due = [row for row in standing if not row.held]
    organisation_of = {int(row.id): int(row.hub_organisation_id) for row in due}
    erased: list[Erased] = []
    for kind in VICTIM_KINDS:
        cutoff = _cutoff_value(kind, now)
        victims = [int(row.id) for row in due if row.anchor < cutoff]
        if not victims:
            continue
        for part in _VICTIM_PARTS[kind]:
            erased += [
                Erased(kind, part.subject, row_id, organisation_of[victim_id], victim_id)
                for row_id, victim_id in await _erase_part(db, part, victims)
            ]
    return erased, len({item.victim_id for item in erased})
