"""Liveness and readiness probes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.migrate import readiness_problem


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    problem = await readiness_problem(request.app.state.engine, request.app.state.settings.database_url)
    if problem is not None:
        return JSONResponse({"status": "unavailable", "reason": problem}, 503)
    return JSONResponse({"status": "ready"})
