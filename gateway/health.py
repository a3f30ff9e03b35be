"""Liveness and readiness probes, and the answer every endpoint gives while the database cannot be reached."""

from __future__ import annotations

import logging

import asyncpg
import sqlalchemy.exc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.migrate import readiness_problem

log = logging.getLogger("gateway.health")
# Failures to reach the database rather than faults in a statement: the request may succeed when retried.
_UNREACHABLE = (
    OSError,  # connection refused or reset, timeouts
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free in time
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.TooManyConnectionsError,
)
RETRY_AFTER_SECONDS = 5
# The gateway's codes for the refusals Starlette's routing makes itself (an unknown path, a method a route lacks).
_HTTP_CODES = {404: "not-found", 405: "method-not-allowed"}
_HTTP_MESSAGES = {404: "There is nothing at this address.", 405: "This address does not take that method."}


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    problem = await readiness_problem(request.app.state.engine, request.app.state.settings.database_url)
    if problem is not None:
        return JSONResponse({"status": "unavailable", "reason": problem}, 503)
    return JSONResponse({"status": "ready"})


def is_database_unreachable(error: BaseException) -> bool:
    """Whether the error, or one it was raised from, is a failure to reach the database."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNREACHABLE):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


async def server_error(request: Request, error: Exception) -> Response:
    """503 with a JSON error while the database is unreachable (the token check needs it); a JSON 500 else."""
    if is_database_unreachable(error):
        log.error("database unreachable", extra={"error_type": type(error).__name__, "path": request.url.path})
        return JSONResponse(
            {"error": "service-unavailable", "message": "The service is unavailable; try again shortly."},
            503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
        )
    return JSONResponse(
        {"error": "internal", "message": "Unexpected error."}, 500, headers={"Cache-Control": "no-store"}
    )


async def http_error(request: Request, error: Exception) -> Response:
    """Starlette's own refusals (unknown path, wrong method) in the JSON shape every other refusal has."""
    assert isinstance(error, HTTPException)
    status = error.status_code
    return JSONResponse(
        {"error": _HTTP_CODES.get(status, "bad-request"), "message": _HTTP_MESSAGES.get(status, "Bad request.")},
        status,
        headers=error.headers,
    )
