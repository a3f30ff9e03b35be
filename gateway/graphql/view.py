"""The Starlette endpoint for /graphql: POST with one JSON object only, a database session per request.

Every answer, refusals included, is JSON (but for the development IDE's page) and carries `Cache-Control: no-store`
and `X-Content-Type-Options: nosniff`: answers hold victims' details, which no cache on the way may keep.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.authentication import AuthCredentials, AuthenticationError
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.base import BaseSchema
from strawberry.types import ExecutionResult

from gateway.auth.backend import (
    AuthenticatedCaller,
    BearerTokenBackend,
    DeferredCaller,
    invalid_token_response,
    principal_of,
)
from gateway.auth.principal import Principal
from gateway.db import AsyncSession
from gateway.graphql.compiled import CompiledReads
from gateway.graphql.context import Context
from gateway.graphql.session import RequestSession
from gateway.graphql.surface import MAX_TOKENS, UNEXPECTED_ERROR_MESSAGE
from gateway.graphql.trusted import TrustedDocuments
from gateway.graphql.trusted_execution import GatewayRequestAdapter, read_operation
from gateway.graphql.trusted_refusals import DocumentRefused
from gateway.settings import Settings

log = logging.getLogger("gateway.graphql")
# The stable `error` code of each refusal Strawberry raises before any operation runs.
_REFUSAL_CODES = {400: "bad-request", 404: "not-found", 405: "method-not-allowed", 415: "unsupported-media-type"}


class GatewayGraphQL(GraphQL[Context, None]):
    request_adapter_class = GatewayRequestAdapter

    def __init__(
        self,
        schema: BaseSchema,
        *,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        tokens: BearerTokenBackend | None = None,
        compiled: CompiledReads | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.is_development else None,
            allow_queries_via_get=False,
            multipart_uploads_enabled=False,
        )
        self.settings = settings
        self.session_factory = session_factory
        self.tokens = tokens
        self.compiled = compiled
        self.trusted = TrustedDocuments.for_app(schema, settings, session_factory, max_tokens=MAX_TOKENS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError("/graphql answers HTTP only")
        send = _never_stored(send)
        refusal = _refuse_unless_json_post(Request(scope), ide_enabled=self.graphql_ide is not None)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        request = Request(scope, receive)
        caller = scope.get("user")
        if isinstance(caller, DeferredCaller):
            # The token is verified but its state is not read yet: a compiled read reads it in its own statement;
            # anything else reads it here first, exactly as the middleware does for every other path.
            answered = await self._answer_compiled(request, caller)
            if answered is not None:
                await answered(scope, receive, send)
                return
            try:
                principal = await self._confirm(caller)
            except AuthenticationError as refused:
                await invalid_token_response(request, refused)(scope, receive, send)
                return
            scope["auth"] = AuthCredentials([s.value for s in principal.scopes])
            scope["user"] = AuthenticatedCaller(principal)
        # One session per request, closed however the request ends, and only once no resolver's work is running.
        async with self.session_factory() as db:
            session = scope.setdefault("state", {})["session"] = RequestSession(db)
            try:
                response = await self._answer(request)
                await response(scope, receive, send)
            finally:
                await session.finish()

    async def _answer_compiled(self, request: Request, caller: DeferredCaller) -> Response | None:
        """The compiled statement's answer (or its refusal of the token), or None for the resolver path."""
        if self.compiled is None:
            return None
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None  # Strawberry words the refusal
        body = await self._trusted_compiled_body(body, caller)
        if not isinstance(body, dict):
            return body  # None (not an object: Strawberry words the refusal) or a trusted-document refusal
        answer = await self.compiled.answer(body, caller.claims)
        if answer.token_refused:
            return invalid_token_response(request, AuthenticationError("token revoked"))
        if answer.body is None:
            return None
        return Response(answer.body, media_type="application/json")

    async def _trusted_compiled_body(self, body: object, caller: DeferredCaller) -> dict[str, Any] | Response | None:
        # The compiled path reads the body before Strawberry does, so the trusted-document rules apply here first:
        # a `documentId` becomes its document's text, and the trusted-only setting refuses any other query.
        if not isinstance(body, dict):
            return None
        client_id = caller.claims.get("client_id")
        try:
            return await self.trusted.compiled_body(body, client_id=client_id if isinstance(client_id, str) else None)
        except DocumentRefused as refused:
            return refused.response()

    async def _confirm(self, caller: DeferredCaller) -> Principal:
        if self.tokens is None:
            raise AuthenticationError("no token state to check")
        return await self.tokens.confirm(caller.claims)

    async def _answer(self, request: Request) -> Response:
        try:
            return await self.run(request)
        except DocumentRefused as refused:
            return refused.response()
        except HTTPException as refused:
            # Strawberry answers these in plain text; callers get the JSON shape every other refusal has.
            code = _REFUSAL_CODES.get(refused.status_code, "bad-request")
            return JSONResponse({"error": code, "message": refused.reason}, refused.status_code)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData | list[GraphQLRequestData]:
        # Trusted documents (gateway/graphql/trusted.py): `documentId` or an APQ hash instead of `query`, the
        # trusted-only setting checked before any parsing, and a trusted document's request spared parsing it again.
        assert isinstance(request, GatewayRequestAdapter)
        principal = principal_of(request.request)
        body = self.parse_json(await request.get_body())
        return await read_operation(self.trusted, request, body, client_id=principal.client_id if principal else None)

    def decode_json(self, data: str | bytes) -> object:
        # orjson's decode error is a json.JSONDecodeError, so a malformed body is still Strawberry's 400.
        decoded = orjson.loads(data)
        # Strawberry reads the body as an object (or a batch, which it refuses); anything else was a 500.
        problem = _operation_shape_problem(decoded)
        if problem is not None:
            raise HTTPException(400, problem)
        return decoded

    def encode_json(self, data: object) -> bytes:
        # A page of 50 tasks is a few thousand values; orjson encodes it several times faster than json.dumps.
        return orjson.dumps(data)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        # Reads write audit rows; they must be committed before any personal data leaves in the response.
        session: RequestSession = request.state.session
        try:
            await session.commit()
        except Exception:
            await session.rollback()
            log.exception("could not commit the request's audit trail; withholding the response")
            return {"data": None, "errors": [{"message": UNEXPECTED_ERROR_MESSAGE, "extensions": {"code": "internal"}}]}
        return await super().process_result(request, result)

    async def get_context(self, request: Request, response: Response) -> Context:  # type: ignore[override]
        return Context(
            request=request, settings=self.settings, session=request.state.session, principal=principal_of(request)
        )


def _operation_shape_problem(body: object) -> str | None:
    if isinstance(body, list):
        return "Send one operation per request: batches are not accepted."
    if not isinstance(body, dict):
        return "The body must be a JSON object holding the operation's query."
    if not isinstance(body.get("operationName"), str | None):
        return "The operation's `operationName` must be a string or null, if provided."
    return None


def _never_stored(send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers["Cache-Control"] = "no-store"
            headers["X-Content-Type-Options"] = "nosniff"
        await send(message)

    return send_with_headers


def _refuse_unless_json_post(request: Request, *, ide_enabled: bool) -> Response | None:
    if request.method == "GET" and ide_enabled and "text/html" in request.headers.get("accept", ""):
        return None  # the GraphiQL page in development; queries over GET stay refused
    if request.method != "POST":
        return JSONResponse(
            {"error": "method-not-allowed", "message": "Send GraphQL operations as POST with a JSON body."},
            405,
            headers={"Allow": "POST"},
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return JSONResponse(
            {"error": "unsupported-media-type", "message": "GraphQL requests must be application/json."}, 415
        )
    return None
