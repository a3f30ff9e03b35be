"""How a request runs a trusted document: the view reads the operation (by id, or the text checked against the
registry) and leaves the document on the request's state; the schema's parser cache and validation then take the
document parsed and validated at load instead of parsing and validating the text again.

Apart from gateway/graphql/trusted.py because this is the request-time side, wired into Strawberry's view and
extensions; the registry itself knows nothing of them.
"""

from __future__ import annotations

from collections.abc import Iterator

from cross_web import StarletteRequestAdapter
from starlette.requests import Request
from strawberry.extensions import ParserCache
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionContext

from gateway.graphql.trusted import TRUSTED_STATE_KEY, TrustedDocument, TrustedDocuments, trusted_document_of
from gateway.graphql.validation import SurfaceValidation, variable_errors


class GatewayRequestAdapter(StarletteRequestAdapter):
    """Strawberry's Starlette adapter, keeping the request so the body's reading can see its caller and state."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.request = request


async def read_operation(
    registry: TrustedDocuments, adapter: GatewayRequestAdapter, body: object, *, client_id: str | None
) -> GraphQLRequestData:
    """The request's operation, with the trusted document it runs (if any) left on the request's state."""
    assert isinstance(body, dict)  # the view refuses any other body before this
    data, trusted = await registry.request_data(body, client_id=client_id)
    if trusted is not None:
        adapter.request.scope.setdefault("state", {})[TRUSTED_STATE_KEY] = trusted
    return data


def _trusted_for(execution_context: ExecutionContext) -> TrustedDocument | None:
    request = getattr(execution_context.context, "request", None)
    trusted = trusted_document_of(request) if isinstance(request, Request) else None
    # The very text the view put in the request: anything else executed in this request is checked as usual.
    return trusted if trusted is not None and trusted.text is execution_context.query else None


class TrustedParserCache(ParserCache):
    """Strawberry's parser cache, except that a trusted document's request takes the document parsed at load."""

    def on_parse(self) -> Iterator[None]:
        trusted = _trusted_for(self.execution_context)
        if trusted is None:
            yield from super().on_parse()
            return
        self.execution_context.graphql_document = trusted.document
        yield


class TrustedSurfaceValidation(SurfaceValidation):
    """The surface's validation, except that a trusted document, validated at load, has only its variables
    checked."""

    def on_validate(self) -> Iterator[None]:
        if _trusted_for(self.execution_context) is None:
            yield from super().on_validate()
            return
        self.execution_context.pre_execution_errors = variable_errors(self.execution_context.variables)
        yield
