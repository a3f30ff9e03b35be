"""The Starlette endpoint for /graphql: POST with JSON only, a database session per request."""

from __future__ import annotations

import asyncio
import logging

import orjson
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.base import BaseSchema
from strawberry.types import ExecutionResult

from gateway.auth.backend import principal_of
from gateway.db import AsyncSession
from gateway.graphql.context import Context
from gateway.graphql.surface import UNEXPECTED_ERROR_MESSAGE
from gateway.settings import Settings

log = logging.getLogger("gateway.graphql")


class GatewayGraphQL(GraphQL[Context, None]):
    def __init__(
        self, schema: BaseSchema, *, settings: Settings, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.is_development else None,
            allow_queries_via_get=False,
            multipart_uploads_enabled=False,
        )
        self.settings = settings
        self.session_factory = session_factory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = _refuse_unless_json_post(Request(scope), ide_enabled=self.graphql_ide is not None)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        # One session per request, closed however the request ends.
        async with self.session_factory() as db:
            scope.setdefault("state", {})["db"] = db
            await super().__call__(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        # orjson's decode error is a json.JSONDecodeError, so a malformed body is still Strawberry's 400.
        return orjson.loads(data)

    def encode_json(self, data: object) -> bytes:
        # A page of 50 tasks is a few thousand values; orjson encodes it several times faster than json.dumps.
        return orjson.dumps(data)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        # Reads write audit rows; they must be committed before any personal data leaves in the response.
        db = request.state.db
        try:
            await db.commit()
        except Exception:
            await db.rollback()
            log.exception("could not commit the request's audit trail; withholding the response")
            return {"data": None, "errors": [{"message": UNEXPECTED_ERROR_MESSAGE}]}
        return await super().process_result(request, result)

    async def get_context(self, request: Request, response: Response) -> Context:  # type: ignore[override]
        principal = principal_of(request)
        db = request.state.db
        lock = asyncio.Lock()
        return Context(
            request=request,
            settings=self.settings,
            db=db,
            principal=principal,
            db_lock=lock,
        )


def _refuse_unless_json_post(request: Request, *, ide_enabled: bool) -> Response | None:
    if request.method == "GET" and ide_enabled and "text/html" in request.headers.get("accept", ""):
        return None  # the GraphiQL page in development; queries over GET stay refused
    if request.method != "POST":
        return JSONResponse(
            {"error": "method_not_allowed", "message": "Send GraphQL operations as POST with a JSON body."},
            405,
            headers={"Allow": "POST"},
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return JSONResponse(
            {"error": "unsupported_media_type", "message": "GraphQL requests must be application/json."}, 415
        )
    return None
