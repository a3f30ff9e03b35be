"""The provider caseworker's pages."""

from __future__ import annotations

from starlette.responses import Response

from gateway.auth.principal import Scope
from gateway.web.portal import Portal, Visit


async def inbox(visit: Visit) -> Response:
    return visit.render("provider/inbox.html", title="Inbox")


def add_provider_pages(portal: Portal) -> None:
    portal.section("/portal/inbox", "Inbox", Scope.TASKS_READ)
    portal.page("/inbox", inbox, scopes=(Scope.TASKS_READ,))
