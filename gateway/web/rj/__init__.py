"""The RJ hub's pages: the co-ordinator's home, cases and each step on them, the diary, facilitators, a
facilitator's own cases and diary, and finding a case by its reference."""

from __future__ import annotations

from gateway.auth.principal import Scope
from gateway.web.portal import Portal
from gateway.web.rj.actions.page import case_action_page
from gateway.web.rj.pages import (
    case_page,
    diary_page,
    facilitators_page,
    find_page,
    mine_page,
    open_from_task,
    renew_page,
    rj_home,
)

__all__ = ["add_rj_pages"]

MANAGE = (Scope.RJ_MANAGE,)
CASEWORK = (Scope.RJ_MANAGE, Scope.RJ_FACILITATE)


def add_rj_pages(portal: Portal) -> None:
    portal.section("/portal/rj", "Restorative justice", *CASEWORK)
    portal.page("/rj", rj_home, scopes=CASEWORK)
    portal.page("/rj/open-case", open_from_task, methods=("POST",), scopes=MANAGE)
    portal.page("/rj/find", find_page, scopes=CASEWORK)
    portal.page("/rj/diary", diary_page, scopes=MANAGE)
    portal.page("/rj/facilitators", facilitators_page, methods=("GET", "POST"), scopes=MANAGE)
    portal.page("/rj/facilitators/{facilitator_id}/renew", renew_page, methods=("GET", "POST"), scopes=MANAGE)
    portal.page("/rj/mine", mine_page, methods=("GET", "POST"), scopes=(Scope.RJ_FACILITATE,))
    portal.page("/rj/cases/{case_id}", case_page, scopes=CASEWORK)
    portal.page("/rj/cases/{case_id}/{action}", case_action_page, methods=("GET", "POST"), scopes=CASEWORK)
