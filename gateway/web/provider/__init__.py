"""The provider caseworker's pages: the inbox, a task, and each action on a task as its own small form."""

from __future__ import annotations

from gateway.auth.principal import Scope
from gateway.web.portal import Portal
from gateway.web.provider.actions import add_action_pages
from gateway.web.provider.inbox import inbox_page
from gateway.web.provider.task import task_page

__all__ = ["add_provider_pages"]


def add_provider_pages(portal: Portal) -> None:
    portal.section("/portal/inbox", "Inbox", Scope.TASKS_READ)
    portal.page("/inbox", inbox_page, scopes=(Scope.TASKS_READ,))
    # The Hub opens the same address (notification e-mails carry it) and is sent on to its referral's page.
    portal.page("/tasks/{task_id}", task_page, scopes=(Scope.TASKS_READ, Scope.REFERRALS_READ))
    add_action_pages(portal)
