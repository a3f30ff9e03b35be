"""Trusted documents: GraphQL operations registered ahead by their SHA-256, run by id, and optionally the only ones run.

The practice is the GraphQL-over-HTTP persisted-documents appendix ("trusted documents"): a document's id is
`sha256:` and the lower-case hex SHA-256 of its UTF-8 text, exactly as sent (whitespace included), and a request
names it with `documentId` instead of `query`. Apollo's automatic-persisted-query shape,
`extensions.persistedQuery.sha256Hash`, is taken as the same id; nothing is registered by a request, though: only an
administrator registers documents (`gateway documents register`), so a known id means a document someone vouched for.

- Registration checks the document as /graphql would: the token limit, the surface limits (depth, aliases, repeats,
  cost), graphql-core's rules with the gateway's, against the schema of the environment (introspection refused in
  production). A refusal has a stable code and a fixed message, with at most a line and column: never the text.
- Each app holds one registry (`TrustedDocuments`): every live document is parsed and validated once, at start-up
  or on first use, and kept; a request that runs one skips parsing and document validation (its variables are still
  checked). A document registered later is found on its first request (one lookup by primary key, misses remembered
  briefly); revocations are seen within GATEWAY_TRUSTED_DOCUMENTS_REFRESH_SECONDS.
- With GATEWAY_TRUSTED_DOCUMENTS_ONLY a `query` whose hash is not registered for the caller's client (or for any)
  is refused before it is parsed: the check is a hash of the text, linear in its length.
- A document registered for one OAuth client is, to every other caller, a document that does not exist.

Start-up hooks (`add_start_up_hook`) see every document as it is loaded, for a query compiler to prepare its plan.
Registering, listing and revoking (what `gateway documents` calls) are in gateway/graphql/trusted_registry.py;
how the view and the schema's extensions run a trusted document's request, in gateway/graphql/trusted_execution.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from weakref import WeakSet

from cross_web import HTTPException
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    parse,
    specified_rules,
)
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from starlette.requests import Request
from strawberry.http import GraphQLRequestData
from strawberry.schema.base import BaseSchema

from gateway.db import AsyncSession
from gateway.graphql.limits import BudgetExceeded, limit_errors
from gateway.graphql.messages import error_code
from gateway.graphql.trusted_models import MAX_DOCUMENT_BYTES, TrustedDocumentRow
from gateway.graphql.trusted_refusals import (
    BAD_REQUEST,
    ID_MISMATCH,
    MESSAGES,
    NOT_FOUND,
    NOT_TRUSTED,
    TOO_LARGE,
    VALIDATION,
    DocumentRefused,
)
from gateway.graphql.validation import (
    VALIDATION_BUDGET_SECONDS,
    DocumentChecks,
    validate_by,
)
from gateway.settings import Settings

log = logging.getLogger("gateway.graphql.trusted")

PREFIX = "sha256:"
HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
# How many parsed documents one registry keeps; more are parsed again when next asked for (and their hooks rerun).
MAX_LOADED = 1000
# Ids asked for and not registered, remembered so a stream of unknown ids costs one lookup each per refresh period.
MAX_ABSENT = 4096
TRUSTED_STATE_KEY = "trusted_document"


@dataclass(frozen=True, slots=True)
class TrustedDocument:
    """A registered document, parsed and validated against the running schema."""

    id: str  # the lower-case hex SHA-256 of `text`
    text: str
    document: DocumentNode
    client_id: str | None
    name: str

    @property
    def document_id(self) -> str:
        """The id as requests carry it: `sha256:<hex>`."""
        return PREFIX + self.id


def document_hash(text: str) -> str:
    """The lower-case hex SHA-256 of the text's UTF-8 bytes (a lone surrogate hashes, and matches nothing)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def parse_document_id(value: object) -> str:
    """The hex of a `sha256:<64 lower-case hex>` id; anything else is `bad-request`."""
    if isinstance(value, str) and len(value) == len(PREFIX) + 64 and value.startswith(PREFIX):
        hex_id = value.removeprefix(PREFIX)
        if HEX_DIGEST.fullmatch(hex_id):
            return hex_id
    raise DocumentRefused(BAD_REQUEST, "A `documentId` is `sha256:` followed by 64 lower-case hexadecimal digits.")


# -- checking a document ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentRules:
    """The checks /graphql makes of a document, against one schema, in the same order."""

    schema: GraphQLSchema
    production: bool
    max_tokens: int
    budget_seconds: float = VALIDATION_BUDGET_SECONDS

    @cached_property
    def validation_rules(self) -> tuple[type[ASTValidationRule], ...]:
        """graphql-core's rules and the ones the surface adds (gateway/graphql/surface.py), for this environment."""
        checks = DocumentChecks(
            extra_rules=[NoSchemaIntrospectionCustomRule] if self.production else [], hide_suggestions=self.production
        )
        return (*specified_rules, *checks.extra_rules)

    def check(self, text: str) -> DocumentNode:
        """The parsed document, or DocumentRefused with the code of the first refusal."""
        if len(text) > MAX_DOCUMENT_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
            raise DocumentRefused(TOO_LARGE)
        try:
            document = parse(text, max_tokens=self.max_tokens)
        except GraphQLError as error:
            raise _refusal(error) from None
        deadline = time.monotonic() + self.budget_seconds
        try:
            errors = limit_errors(self.schema, document, deadline=deadline) or validate_by(
                self.validation_rules,
                self.schema,
                document,
                deadline=deadline,
                hide_suggestions=self.production,
            )
        except BudgetExceeded:
            raise DocumentRefused("query-too-expensive") from None
        if errors:
            raise _refusal(errors[0])
        if not any(isinstance(definition, OperationDefinitionNode) for definition in document.definitions):
            raise DocumentRefused(VALIDATION)
        return document


def _refusal(error: GraphQLError) -> DocumentRefused:
    code = error_code(error)
    message = MESSAGES.get(code, MESSAGES[VALIDATION])
    # Where, never what: the position lets the author find the fault without the text being repeated.
    if error.locations:
        first = error.locations[0]
        message = f"{message.removesuffix('.')} (line {first.line}, column {first.column})."
    return DocumentRefused(code if code in MESSAGES else VALIDATION, message)


# -- hooks ---------------------------------------------------------------------------------------------------------

StartUpHook = Callable[[str, DocumentNode], None]
_start_up_hooks: list[StartUpHook] = []


def add_start_up_hook(hook: StartUpHook) -> None:
    """Call `hook(document_id, document)` for every trusted document as a registry loads it: at start-up, and later
    when one is first asked for. Add hooks before the app starts; a hook that raises is logged and skipped."""
    _start_up_hooks.append(hook)


def remove_start_up_hook(hook: StartUpHook) -> None:
    """Stop calling a hook (tests add their own and take them away again)."""
    _start_up_hooks.remove(hook)


def _run_hooks(document: TrustedDocument) -> None:
    for hook in list(_start_up_hooks):
        try:
            hook(document.document_id, document.document)
        except Exception as error:  # a compiler's failure leaves the document to the resolvers
            log.error(
                "a trusted-document hook failed",
                extra={"document_id": document.document_id, "error_type": type(error).__name__},
            )


# -- the registry a running app holds ------------------------------------------------------------------------------

_current: ContextVar[TrustedDocuments | None] = ContextVar("trusted_documents", default=None)
_registries: WeakSet[TrustedDocuments] = WeakSet()


def registered(document_id: str) -> TrustedDocument | None:
    """The loaded document with this `sha256:<hex>` id, from the registry of the app serving the current request
    (or, outside a request, of the one app in the process), without any database work; None when not loaded."""
    registry = _current.get()
    if registry is None:
        candidates = list(_registries)
        registry = candidates[0] if len(candidates) == 1 else None
    return registry.registered(document_id) if registry is not None else None


def trusted_document_of(request: Request) -> TrustedDocument | None:
    """The trusted document this request runs, once its body has been read; None for any other request."""
    found = request.scope.get("state", {}).get(TRUSTED_STATE_KEY)
    return found if isinstance(found, TrustedDocument) else None


class TrustedDocuments:
    """One app's trusted documents: parsed and validated once, kept in memory, revocations seen within
    `refresh_seconds`."""

    def __init__(
        self,
        rules: DocumentRules,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        only: bool,
        refresh_seconds: float,
    ) -> None:
        self.rules = rules
        self.session_factory = session_factory
        self.only = only
        self.refresh_seconds = refresh_seconds
        self._loaded: OrderedDict[str, TrustedDocument] = OrderedDict()
        self._live: dict[str, str | None] | None = None  # hex id -> client id (None: any), once loaded
        self._invalid: set[str] = set()  # live ids whose text this schema refuses (it changed since registration)
        self._absent: OrderedDict[str, float] = OrderedDict()  # hex id -> when it was found not registered
        self._refreshed_at = -math.inf
        self._lock = asyncio.Lock()
        _registries.add(self)

    @classmethod
    def for_app(
        cls,
        schema: BaseSchema,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        max_tokens: int,
    ) -> TrustedDocuments:
        """The registry of an app serving this schema with these settings."""
        production = not settings.is_development
        return cls(
            DocumentRules(schema._schema, production=production, max_tokens=max_tokens),  # type: ignore[attr-defined]
            session_factory,
            only=settings.trusted_documents_only,
            refresh_seconds=settings.trusted_documents_refresh_seconds,
        )

    # What a query compiler and the view read.

    def registered(self, document_id: str) -> TrustedDocument | None:
        """The loaded document with this `sha256:<hex>` id, without any database work."""
        return self._loaded.get(document_id.removeprefix(PREFIX))

    def documents(self) -> list[TrustedDocument]:
        """Every document loaded now."""
        return list(self._loaded.values())

    async def start(self) -> None:
        """Load every live document (parse, validate, run the hooks); a database that cannot answer yet is retried on
        the first request that needs it."""
        try:
            async with self._lock:
                await self._load_all()
        except Exception as error:  # the gateway starts without its database, as /readyz says
            log.warning("trusted documents not loaded at start-up", extra={"error_type": type(error).__name__})

    async def find(self, hex_id: str, client_id: str | None) -> TrustedDocument | None:
        """The live document with this id that this client may run, loading it on first use; None otherwise."""
        authoritative = await self._refresh_if_stale()
        assert self._live is not None
        # An id not live at the last refresh may have been registered since: looked up once, a miss remembered.
        if hex_id not in self._live and (
            authoritative or self._recently_absent(hex_id) or not await self._fetch_one(hex_id)
        ):
            return None
        owner = self._live.get(hex_id)
        if (owner is not None and owner != client_id) or hex_id in self._invalid:
            return None
        found = self._loaded.get(hex_id)
        if found is not None:
            self._loaded.move_to_end(hex_id)
            return found
        return await self._load_one(hex_id)

    def find_loaded(self, hex_id: str, client_id: str | None) -> TrustedDocument | None:
        """The document if it is loaded and this client may run it, without any database work."""
        found = self._loaded.get(hex_id)
        return found if found is not None and found.client_id in (None, client_id) else None

    async def request_data(
        self, body: dict[str, Any], *, client_id: str | None
    ) -> tuple[GraphQLRequestData, TrustedDocument | None]:
        """The operation a JSON body asks for, by `query`, `documentId` or an APQ hash; a trusted document it names or
        sends is carried as that document's own text, so the request skips parsing and validating it."""
        # Left set for the rest of the request, so `registered()` answers from this app's registry.
        _current.set(self)
        query, variables, extensions = body.get("query"), body.get("variables"), body.get("extensions")
        # Strawberry's own checks and messages, kept: this replaces its reading of the body.
        if not isinstance(query, str | None):
            raise HTTPException(400, "The GraphQL operation's `query` must be a string or null, if provided.")
        if not isinstance(variables, dict | None):
            raise HTTPException(400, "The GraphQL operation's `variables` must be an object or null, if provided.")
        if not isinstance(extensions, dict | None):
            raise HTTPException(400, "The GraphQL operation's `extensions` must be an object or null, if provided.")
        named = _named_id(body.get("documentId"), extensions)
        trusted: TrustedDocument | None = None
        if query is not None:
            hex_id = document_hash(query)
            if named is not None and named != hex_id:
                raise DocumentRefused(ID_MISMATCH)
            if self.only or named is not None:
                trusted = await self.find(hex_id, client_id)
            else:
                trusted = self.find_loaded(hex_id, client_id)
            if trusted is None and self.only:
                raise DocumentRefused(NOT_TRUSTED)
        elif named is not None:
            trusted = await self.find(named, client_id)
            if trusted is None:
                raise DocumentRefused(NOT_FOUND)
        data = GraphQLRequestData(
            query=trusted.text if trusted is not None else query,
            variables=variables,
            operation_name=body.get("operationName"),
            extensions=extensions,
        )
        return data, trusted

    async def compiled_body(self, body: dict[str, Any], *, client_id: str | None) -> dict[str, Any]:
        """The body as a path that reads it before Strawberry sees it: a trusted document it names is given as its
        `query`; the same refusals (DocumentRefused) as any request. A body Strawberry would refuse is left as it is,
        for Strawberry to refuse in its own words."""
        try:
            _, trusted = await self.request_data(body, client_id=client_id)
        except HTTPException:
            return body
        return body if trusted is None else {**body, "query": trusted.text}

    # Loading.

    async def _refresh_if_stale(self) -> bool:
        """Bring the live ids up to date when older than refresh_seconds; True when they were read just now."""
        if self._live is not None and time.monotonic() - self._refreshed_at < self.refresh_seconds:
            return False
        async with self._lock:
            if self._live is not None and time.monotonic() - self._refreshed_at < self.refresh_seconds:
                return False
            if self._live is None:
                await self._load_all()
            else:
                await self._refresh_live()
            return True

    async def _load_all(self) -> None:
        async with self.session_factory() as db:
            rows = list(
                (
                    await db.exec(
                        select(TrustedDocumentRow)
                        .where(col(TrustedDocumentRow.revoked_at).is_(None))
                        .order_by(col(TrustedDocumentRow.registered_at).desc())
                    )
                ).all()
            )
        self._live = {row.id: row.client_id for row in rows}
        self._refreshed_at = time.monotonic()
        for row in rows[:MAX_LOADED]:
            self._admit(row)

    async def _refresh_live(self) -> None:
        async with self.session_factory() as db:
            found = await db.exec(
                select(TrustedDocumentRow.id, TrustedDocumentRow.client_id).where(
                    col(TrustedDocumentRow.revoked_at).is_(None)
                )
            )
            live: dict[str, str | None] = dict(found.all())
        self._refreshed_at = time.monotonic()
        for hex_id, loaded in list(self._loaded.items()):
            if hex_id not in live or live[hex_id] != loaded.client_id:
                del self._loaded[hex_id]
        self._invalid &= live.keys()
        self._absent.clear()
        self._live = live

    async def _fetch_one(self, hex_id: str) -> bool:
        """Look for a document registered since the last refresh; True when it is live now."""
        async with self.session_factory() as db:
            row = await db.get(TrustedDocumentRow, hex_id)
        if row is None or row.revoked_at is not None:
            self._absent[hex_id] = time.monotonic()
            if len(self._absent) > MAX_ABSENT:
                self._absent.popitem(last=False)
            return False
        assert self._live is not None
        self._live[hex_id] = row.client_id
        self._admit(row)
        return True

    async def _load_one(self, hex_id: str) -> TrustedDocument | None:
        async with self.session_factory() as db:
            row = await db.get(TrustedDocumentRow, hex_id)
        if row is None or row.revoked_at is not None:
            return None
        return self._admit(row)

    def _recently_absent(self, hex_id: str) -> bool:
        seen = self._absent.get(hex_id)
        return seen is not None and time.monotonic() - seen < self.refresh_seconds

    def _admit(self, row: TrustedDocumentRow) -> TrustedDocument | None:
        try:
            document = self.rules.check(row.document)
        except DocumentRefused as refused:
            # The schema changed under a registered document; it is refused as unknown until registered anew.
            self._invalid.add(row.id)
            log.warning(
                "a trusted document no longer passes validation",
                extra={"document_id": PREFIX + row.id, "code": refused.code},
            )
            return None
        trusted = TrustedDocument(
            id=row.id, text=row.document, document=document, client_id=row.client_id, name=row.name
        )
        self._loaded[row.id] = trusted
        self._loaded.move_to_end(row.id)
        while len(self._loaded) > MAX_LOADED:
            self._loaded.popitem(last=False)
        _run_hooks(trusted)
        return trusted


def _named_id(document_id: object, extensions: dict[str, Any] | None) -> str | None:
    """The hex id the body names by `documentId` or by APQ's `extensions.persistedQuery.sha256Hash`, if any."""
    named = parse_document_id(document_id) if document_id is not None else None
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return named
    digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
    if not isinstance(digest, str) or not HEX_DIGEST.fullmatch(digest) or persisted.get("version", 1) != 1:
        raise DocumentRefused(
            BAD_REQUEST, "`extensions.persistedQuery` needs `version` 1 and a lower-case hex `sha256Hash`."
        )
    if named is not None and named != digest:
        raise DocumentRefused(ID_MISMATCH, "The `documentId` and the persisted query's hash differ.")
    return digest
