"""The Hub co-ordinator's pages."""

from __future__ import annotations

from starlette.responses import Response

from gateway.auth.principal import Scope
from gateway.web.portal import Portal, Visit


async def hub_home(visit: Visit) -> Response:
    return visit.render("hub/home.html", title="Hub home")


def add_hub_pages(portal: Portal) -> None:
    portal.section("/portal/hub", "Home", Scope.REFERRALS_READ)
    portal.page("/hub", hub_home, scopes=(Scope.REFERRALS_READ,))
