"""GET /rj/calendar.ics?token=...: a facilitator's conference feed for calendar clients.

Calendar clients subscribe to a URL and cannot send an Authorization header, so the credential has to travel in
the URL. It travels in the query string, not the path: the gateway's access log records the path only
(gateway/middleware.py), uvicorn's own access log is off, and the query string is where the project already keeps
what must never be logged. Only a hash of the token is stored; the co-ordinator or the facilitator rotates it.
Any token that is not a current one (wrong, old, absent, a deactivated user's) gets the same 404, so the
response never says whether a feed exists.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.restorative_justice import service
from gateway.restorative_justice.calendar import build_feed

FEED_PATH = "/rj/calendar.ics"
UID_DOMAIN = "rj.referral-gateway"


class CalendarFeedEndpoint:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def handle(self, request: Request) -> Response:
        token = request.query_params.get("token", "")
        async with self.session_factory() as db:
            found = await service.feed_for_token(db=db, token=token)
        if found is None:
            return JSONResponse(
                {"error": "not-found", "message": "Not found."}, status_code=404, headers={"Cache-Control": "no-store"}
            )
        _, conferences = found
        body = build_feed(uid_domain=UID_DOMAIN, conferences=conferences, generated_at=utc_now())
        return Response(
            body,
            media_type="text/calendar; charset=utf-8",
            headers={"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"},
        )
