"""Notes on an RJ case: who wrote what, when. Personal data, so written and read under audit and never fed out."""

from __future__ import annotations

from gateway.audit.models import AuditCategory
from gateway.auth.principal import Principal
from gateway.db import AsyncSession
from gateway.kit import bounded_text
from gateway.restorative_justice.models import NOTES_MAX_LENGTH, CaseNote, RjCase
from gateway.restorative_justice.service.access import CASEWORK, CaseStep, SubjectIds, add_to_case

# A note may be written at any stage, a closed case included: what happened after closing is still recorded.
NOTE = CaseStep("rj.case.note", stages=None, scopes=CASEWORK, category=AuditCategory.COLLECTION)


async def add_case_note(
    *, db: AsyncSession, actor: Principal, case_id: int, text: str, idempotency_key: str
) -> CaseNote:
    """The co-ordinator or an assigned facilitator adds a note to a case; the author and time are recorded."""

    async def add(case: RjCase) -> tuple[CaseNote, SubjectIds]:
        note = CaseNote(
            case_id=case_id,
            text=bounded_text(text, "note", max_length=NOTES_MAX_LENGTH, required=True) or "",
            written_by=actor.actor_label,
        )
        db.add(note)
        await db.flush()
        return note, {"rj_note": note.id}

    return await add_to_case(db, actor, NOTE, CaseNote, case_id, idempotency_key, {"t": text}, add=add)
