"""What a signed-in page handler receives: a Visit (who is asking, the form they sent, and the means to run one
transaction, render, keep a draft or leave a message), and NotFoundPage, the portal's 404.

Apart from the portal's sign-in and session plumbing (gateway/web/portal.py) because every page module uses these
and nothing else of it; PortalPlumbing names the little a visit uses of the portal, so this module needs nothing
from portal.py and the two import in one direction only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.auth.portal_sessions import OpenSession
from gateway.auth.principal import Principal, Role, Scope
from gateway.db import AsyncSession
from gateway.errors import DomainError, ErrorCode
from gateway.settings import Settings
from gateway.web.security import PAGE_HEADERS, csrf_token

T = TypeVar("T")

_MISSING_OR_NOT_YOURS = frozenset({ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN})


class PortalPlumbing(Protocol):
    """What a visit uses of the portal (gateway.web.portal.Portal)."""

    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]

    def render(self, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse: ...

    async def save_session(self, session: OpenSession) -> None: ...


class NotFoundPage(Exception):
    """Answered as the portal's 404: a missing page and a page that is not yours look the same."""


@dataclass
class Visit:
    """One signed-in page request: who is asking, the form they sent (CSRF already checked), and the means to
    run a service call in one transaction, render a page, keep a draft, or leave a message for the next page."""

    portal: PortalPlumbing
    request: Request
    principal: Principal
    session: OpenSession
    email: str
    form: FormData | None = None
    flash_message: str | None = None

    @property
    def csrf_token(self) -> str:
        return csrf_token(self.portal.settings.session_secret, str(self.session.contents.get("csrf", "")))

    def has(self, scope: Scope) -> bool:
        return self.principal.has(scope)

    def has_role(self, *roles: Role) -> bool:
        return bool(self.principal.roles & set(roles))

    def field(self, name: str, *, limit: int = 2000) -> str:
        """A submitted form field, trimmed; longer than `limit` characters comes back cut at the limit + 1, so a
        length check still fails on it without the handler ever holding an unbounded value."""
        if self.form is None:
            return ""
        value = self.form.get(name, "")
        return str(value)[: limit + 1].strip() if isinstance(value, str) else ""

    def fields(self, name: str, *, limit: int = 200, count: int = 50) -> list[str]:
        """Every value of a repeated field (checkboxes), each bounded, at most `count` of them."""
        if self.form is None:
            return []
        return [str(v)[: limit + 1].strip() for v in self.form.getlist(name)[:count] if isinstance(v, str)]

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """One transaction: committed when `work` returns, rolled back (and the DomainError re-raised) when not."""
        async with self.portal.session_factory() as db:
            try:
                result = await work(db)
            except BaseException:
                await db.rollback()
                raise
            await db.commit()
            return result

    async def read(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`run` for a page's reads: a record that is missing or not this person's is the 404 page."""
        try:
            return await self.run(work)
        except DomainError as refusal:
            if refusal.code in _MISSING_OR_NOT_YOURS:
                raise NotFoundPage from refusal
            raise

    def render(self, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        return self.portal.render(template, status_code=status_code, visit=self, **context)

    def redirect(self, path: str) -> RedirectResponse:
        """Post/redirect/get: after a change, the browser is sent to a page it can reload safely."""
        return RedirectResponse(path, status_code=303, headers=PAGE_HEADERS)

    # -- drafts: unfinished multi-page forms, sealed in the session, never in a URL -------------------------

    def draft(self, name: str) -> dict[str, Any]:
        drafts = self.session.contents.setdefault("drafts", {})
        draft = drafts.setdefault(name, {})
        return draft if isinstance(draft, dict) else {}

    async def save_draft(self, name: str, values: dict[str, Any]) -> None:
        self.session.contents.setdefault("drafts", {})[name] = values
        await self.portal.save_session(self.session)

    async def clear_draft(self, name: str) -> None:
        self.session.contents.setdefault("drafts", {}).pop(name, None)
        await self.portal.save_session(self.session)

    # -- a one-time message for the next page (GOV.UK notification banner) --------------------------------

    async def flash(self, message: str) -> None:
        """Shown once, on the next page this person opens: say what was done, never whom it was done to."""
        self.session.contents["flash"] = message[:300]
        await self.portal.save_session(self.session)


Handler = Callable[[Visit], Awaitable[Response]]
