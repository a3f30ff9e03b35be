"""The portal's session: idle for 30 minutes ends it, deactivation and role changes act on the next click, the
access token is refreshed behind the scenes, and the sign-in callback refuses anything it did not start."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from gateway.auth.models import IssuedToken, PortalSession, User
from gateway.auth.portal_sessions import SealedBox
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.settings import Settings
from tests.support.portal import STAFF


async def _signed_in_rows(db: AsyncSession) -> list[PortalSession]:
    db.expire_all()
    return list((await db.exec(select(PortalSession).where(col(PortalSession.user_id).is_not(None)))).all())


async def test_an_idle_session_ends_after_30_minutes(browsers: Any, db: AsyncSession) -> None:
    browser = await browsers("cpn")
    assert (await browser.get("/portal/inbox")).url.path == "/portal/inbox"
    await db.exec(update(PortalSession).values(last_seen_at=utc_now() - timedelta(minutes=29)))
    await db.commit()
    assert (await browser.get("/portal/inbox")).url.path == "/portal/inbox"  # 29 minutes: still in, and touched
    await db.exec(update(PortalSession).values(last_seen_at=utc_now() - timedelta(minutes=30, seconds=1)))
    await db.commit()
    assert (await browser.get("/portal/inbox")).url.path == "/oauth/authorize"
    assert await _signed_in_rows(db) == []


async def test_the_keep_alive_of_the_timeout_warning_keeps_the_session(browsers: Any, db: AsyncSession) -> None:
    browser = await browsers("cpn")
    await browser.get("/portal/inbox")
    await db.exec(update(PortalSession).values(last_seen_at=utc_now() - timedelta(minutes=28)))
    await db.commit()
    kept = await browser.http.post("/portal/keep-alive", data={"csrf_token": browser.csrf})
    assert kept.status_code == 204
    [row] = await _signed_in_rows(db)
    assert utc_now() - row.last_seen_at < timedelta(minutes=1)
    refused = await browser.http.post("/portal/keep-alive", data={"csrf_token": "forged"})
    assert refused.status_code == 403


async def test_a_deactivated_person_is_out_on_the_next_click(browsers: Any, db: AsyncSession) -> None:
    browser = await browsers("coordinator")
    assert (await browser.get("/portal/hub")).url.path == "/portal/hub"
    await db.exec(update(User).where(col(User.email) == STAFF["coordinator"].email).values(active=False))
    await db.commit()
    assert (await browser.get("/portal/hub")).url.path == "/oauth/authorize"
    assert await _signed_in_rows(db) == []


async def test_a_role_taken_away_closes_its_pages_on_the_next_click(browsers: Any, db: AsyncSession) -> None:
    browser = await browsers("coordinator")
    assert (await browser.get("/portal/hub")).status_code == 200
    await db.exec(update(User).where(col(User.email) == STAFF["coordinator"].email).values(roles=[]))
    await db.commit()
    gone = await browser.get("/portal/hub")
    assert gone.status_code == 404 and "Page not found" in gone.text


async def test_an_access_token_near_its_end_is_refreshed_behind_the_scenes(
    browsers: Any, db: AsyncSession, settings: Settings
) -> None:
    browser = await browsers("cpn")
    [row] = await _signed_in_rows(db)
    box = SealedBox(settings.session_secret)
    contents = box.open(row.sealed)
    old_access = contents["tokens"]["access_token"]
    contents["tokens"]["expires_at"] = utc_now().timestamp() + 5
    await db.exec(update(PortalSession).where(col(PortalSession.id) == row.id).values(sealed=box.seal(contents)))
    await db.commit()

    assert (await browser.get("/portal/inbox")).url.path == "/portal/inbox"
    [row] = await _signed_in_rows(db)
    assert box.open(row.sealed)["tokens"]["access_token"] != old_access
    assert len((await db.exec(select(IssuedToken).where(col(IssuedToken.user_id).is_not(None)))).all()) == 2


async def test_the_session_row_holds_no_readable_token(browsers: Any, db: AsyncSession) -> None:
    browser = await browsers("cpn")
    await browser.get("/portal/inbox")
    [row] = await _signed_in_rows(db)
    cookie = browser.http.cookies.get("portal_session", path="/portal")
    assert "eyJ" not in row.sealed and cookie not in row.key_digest and cookie not in row.sealed


async def test_the_callback_refuses_a_state_it_did_not_issue(browsers: Any, db: AsyncSession) -> None:
    browser = await browsers()
    await browser.get("/portal/sign-in")
    forged = await browser.get("/portal/callback?code=anything&state=forged")
    assert forged.status_code == 400 and "Sign-in did not complete" in forged.text
    # The pending sign-in was single use: the real state no longer works either
    assert (await db.exec(select(PortalSession))).all() == []


async def test_a_cookie_from_nowhere_is_a_stranger(browsers: Any) -> None:
    browser = await browsers()
    for value in ("x", "A" * 500, "%00", "' or 1=1 --"):
        browser.http.cookies.set("portal_session", value, domain="gateway.test", path="/portal")
        page = await browser.get("/portal/inbox")
        assert page.url.path == "/oauth/authorize"


async def test_two_pages_at_once_refresh_the_tokens_once_and_the_person_stays_signed_in(
    browsers: Any, db: AsyncSession, settings: Settings
) -> None:
    browser = await browsers("cpn")
    [row] = await _signed_in_rows(db)
    box = SealedBox(settings.session_secret)
    contents = box.open(row.sealed)
    contents["tokens"]["expires_at"] = utc_now().timestamp() + 5
    await db.exec(update(PortalSession).where(col(PortalSession.id) == row.id).values(sealed=box.seal(contents)))
    await db.commit()

    pages = await asyncio.gather(*(browser.http.get("/portal/inbox") for _ in range(4)))

    assert [p.status_code for p in pages] == [200] * 4
    tokens = (await db.exec(select(IssuedToken).where(col(IssuedToken.user_id).is_not(None)))).all()
    # One refresh: the first token spent and retired, its successor live (a replay would have revoked both)
    assert len(tokens) == 2 and [t.revoked_at is None for t in sorted(tokens, key=lambda t: t.id or 0)] == [False, True]
    assert (await browser.get("/portal/inbox")).url.path == "/portal/inbox"
