"""What every RJ case action shares: the case as its forms see it (parties, facilitators, conferences to choose
from), the shape of an action (its form reader and its service call), who may take it, and the two readers more
than one family of forms uses. Apart so each family of forms depends on it and on nothing of the others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.auth.principal import Principal, Scope
from gateway.db import AsyncSession
from gateway.restorative_justice import service as rj
from gateway.restorative_justice.models import Facilitator
from gateway.web.forms import FormErrors
from gateway.web.rj.common import chosen_id, party_label
from gateway.web.visit import Visit

MANAGE = (Scope.RJ_MANAGE,)
CASEWORK = (Scope.RJ_MANAGE, Scope.RJ_FACILITATE)

Values = dict[str, Any]


@dataclass(frozen=True)
class CaseContext:
    detail: rj.CaseDetail
    facilitators: list[Facilitator]

    @property
    def case_id(self) -> int:
        assert self.detail.case.id is not None
        return self.detail.case.id

    def party_items(self, selected: Any = None, *, roles: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        return [
            {"value": str(p.id), "text": party_label(p), "checked": str(p.id) == str(selected)}
            for p in self.detail.parties
            if p.withdrawn_at is None and (roles is None or p.role in roles)
        ]

    def facilitator_items(self, selected: Any = None) -> list[dict[str, Any]]:
        return [
            {"value": str(f.id), "text": f.display_name, "checked": str(f.id) in _as_set(selected)}
            for f in self.facilitators
        ]

    def conference_items(self, status: str) -> list[dict[str, Any]]:
        return [
            {"value": str(c.id), "text": f"Conference {c.id}", "starts_at": c.starts_at}
            for c in self.detail.conferences
            if c.status == status
        ]


def _as_set(selected: Any) -> set[str]:
    if isinstance(selected, list | tuple | set):
        return {str(s) for s in selected}
    return {str(selected)} if selected is not None else set()


Parse = Callable[[Visit, FormErrors, CaseContext], tuple[Values, dict[str, Any]]]
Call = Callable[[AsyncSession, Principal, CaseContext, dict[str, Any], str], Awaitable[Any]]


@dataclass(frozen=True)
class CaseAction:
    slug: str
    title: str
    button: str
    done: str
    call: Call
    parse: Parse
    fields: str | None = None
    first_field: str = "submit"
    scopes: tuple[Scope, ...] = field(default=CASEWORK)
    warning: bool = False


def empty_form(visit: Visit, errors: FormErrors, context: CaseContext) -> tuple[Values, dict[str, Any]]:
    return {}, {}


def chosen_party(visit: Visit, errors: FormErrors, name: str, context: CaseContext, message: str) -> int | None:
    party_id = chosen_id(visit.field(name, limit=12))
    if party_id is None or all(p.id != party_id for p in context.detail.parties):
        errors.add(name, message)
        return None
    return party_id


async def load_context(db: AsyncSession, actor: Principal, case_id: int) -> CaseContext:
    detail = await rj.get_case_detail(db=db, actor=actor, case_id=case_id)
    facilitators = await rj.list_facilitators(db=db, actor=actor) if actor.has(Scope.RJ_MANAGE) else []
    return CaseContext(detail=detail, facilitators=facilitators)
