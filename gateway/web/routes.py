"""The portal's pages, gathered: each part of the portal adds its pages and navigation sections here."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.responses import Response

from gateway.auth.http import AuthorizationEndpoints
from gateway.auth.principal import Scope
from gateway.auth.tokens import TokenVerifier
from gateway.db import AsyncSession
from gateway.settings import Settings
from gateway.web.commissioner import add_commissioner_pages
from gateway.web.dpo import add_dpo_pages
from gateway.web.hub import add_hub_pages
from gateway.web.portal import Portal
from gateway.web.provider import add_provider_pages
from gateway.web.rj import add_rj_pages
from gateway.web.visit import Visit


async def home(visit: Visit) -> Response:
    """Each person starts where their work is: the Hub at its queues, the RJ hub at its cases, a provider at its
    inbox, the Commissioner's office at its overview, the data-protection officer at the audit trail."""
    if visit.has(Scope.REFERRALS_READ):
        return visit.redirect("/portal/hub")
    if visit.has(Scope.RJ_MANAGE) or visit.has(Scope.RJ_FACILITATE):
        return visit.redirect("/portal/rj")
    if visit.has(Scope.TASKS_READ):
        return visit.redirect("/portal/inbox")
    if visit.has(Scope.MONITORING_READ):
        return visit.redirect("/portal/commissioner")
    if visit.has(Scope.DATA_PROTECTION):
        return visit.redirect("/portal/audit-trail")
    return visit.render("home.html", title="Referral gateway")


def build_portal(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    oauth: AuthorizationEndpoints,
    verifier: TokenVerifier,
) -> Portal:
    portal = Portal(settings, session_factory, oauth, verifier)
    portal.page("/", home)
    add_hub_pages(portal)
    add_provider_pages(portal)
    add_commissioner_pages(portal)
    add_rj_pages(portal)
    add_dpo_pages(portal)
    return portal
