"""Signing in to the portal: the authorisation code with PKCE through the gateway's own server, an opaque cookie."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from gateway.auth.models import IssuedToken, PortalSession
from gateway.db import AsyncSession
from tests.support.portal import STAFF


async def test_a_coordinator_signs_in_and_lands_on_the_hub_home(browsers: Any) -> None:
    browser = await browsers()
    sign_in_page = await browser.get("/portal/")
    assert sign_in_page.url.path == "/oauth/authorize"
    assert "Sign in to the referral gateway" in sign_in_page.text
    before = browser.http.cookies.get("portal_session", path="/portal")
    landed = await browser.sign_in("coordinator")
    assert landed.url.path.startswith("/portal/")
    after = browser.http.cookies.get("portal_session", path="/portal")
    assert after and after != before  # rotated at sign-in


async def test_sign_out_revokes_the_tokens_and_the_old_cookie_reaches_nothing(browsers: Any, db: AsyncSession) -> None:
    browser = await browsers("cpn")
    cookie = browser.http.cookies.get("portal_session", path="/portal")
    home = await browser.get("/portal/")
    assert home.status_code == 200
    out = await browser.post("/portal/sign-out")
    assert "You have signed out" in out.text
    assert (await db.exec(select(PortalSession).where(PortalSession.user_id.is_not(None)))).all() == []  # type: ignore[union-attr]
    tokens = (await db.exec(select(IssuedToken).where(IssuedToken.user_id.is_not(None)))).all()  # type: ignore[union-attr]
    assert tokens and all(t.revoked_at is not None for t in tokens)
    thief = await browsers()
    thief.http.cookies.set("portal_session", cookie, domain="gateway.test", path="/portal")
    again = await thief.get("/portal/inbox")
    assert again.url.path == "/oauth/authorize"


async def test_a_form_without_its_csrf_token_changes_nothing(browsers: Any) -> None:
    browser = await browsers("cpn")
    await browser.get("/portal/")
    refused = await browser.post("/portal/sign-out", {}, csrf=False)
    assert refused.status_code == 403
    still = await browser.get("/portal/")
    assert still.status_code == 200 and "Sign out" in still.text


async def test_pages_carry_the_security_headers(browsers: Any) -> None:
    browser = await browsers("coordinator")
    page = await browser.get("/portal/")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in policy and "unsafe-inline" not in policy
    assert STAFF["coordinator"].email not in page.headers.get("location", "")
