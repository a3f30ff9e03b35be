"""Compiled reads: the operations that carry the load, answered by one PostgreSQL statement each.

A request for a compiled operation is one round trip to the database: the statement reads the token's state,
the caller's rows, the consent behind them and the victim as the profile and consent allow, writes the audit rows,
and returns the response's JSON, which the gateway passes through. Everything else takes the resolver path.

Documents are compiled once each (and kept in a bounded cache keyed by their text and operation name), after the
same validation the resolver path runs: limits, cost and graphql-core's rules. Compilation decides by the document
alone; each request then checks its variables and its token's claims, and anything unusual (a page size out of
bounds, a cursor not ours, a missing scope) falls back to the resolvers, which word the error as they always have.

One write is compiled the same way, createReferral (gateway/referrals/compiled/create.py): its statement writes
every row in one round trip, and anything it does not write (a refusal, a key used before) falls back likewise, to
the resolvers, which word it; a statement that wrote nothing changed nothing.

Only PostgreSQL: SQLite keeps the resolver path (it has no json_build_object ordering guarantees worth relying on
and no concurrent writers to serve). `GATEWAY_COMPILED_READS=false` turns the path off.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg
from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode, parse, specified_rules
from graphql.error import GraphQLSyntaxError
from sqlalchemy.engine import make_url

from gateway.clock import utc_now
from gateway.graphql.limits import BudgetExceeded, limit_errors
from gateway.graphql.validation import NoNulCharacterRule, validate_by, variable_errors

log = logging.getLogger("gateway.graphql")

CACHE_SIZE = 512
MAX_TOKENS = 1000
_COMPILE_BUDGET_SECONDS = 2.0


class CompiledRequest(Protocol):
    """A request's arguments, read from its variables by a compiled operation and checked, ready to bind."""


class CompiledOperation(Protocol):
    """One document's operation as one statement: the domain that owns the rules builds it (e.g.
    gateway/referrals/compiled/), and this module runs it."""

    @property
    def sql(self) -> str: ...

    @property
    def required_scope(self) -> str: ...

    def request(self, variables: Mapping[str, Any]) -> CompiledRequest | None:
        """The arguments, or None when the resolver path should answer (and word the error)."""

    def parameters(self, request: CompiledRequest, *, jti: str, actor: str, now: datetime) -> Sequence[Any]:
        """The statement's parameters; the first rows of its result are the token's state (see _answer_of)."""


# Builds an operation's statement, or None when it selects anything the compiler does not handle.
Compiler = Callable[[OperationDefinitionNode], CompiledOperation | None]


@dataclass(frozen=True, slots=True)
class CompiledAnswer:
    """What a compiled read came to: the response body, or a refused token (401), or nothing (use the resolvers)."""

    body: bytes | None = None
    token_refused: bool = False


_FALL_BACK = CompiledAnswer()


def _operation(document: Any, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != len(document.definitions):
        return None  # fragments: not compiled
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    named = [o for o in operations if o.name is not None and o.name.value == operation_name]
    return named[0] if len(named) == 1 else None


class CompiledReads:
    """The compiled operations of one schema and the connections they run on."""

    def __init__(
        self, schema: GraphQLSchema, compilers: Sequence[Compiler], *, database_url: str, pool_size: int = 3
    ) -> None:
        self.schema = schema
        self.compilers = tuple(compilers)
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._plans: OrderedDict[tuple[bytes, str | None], CompiledOperation | None] = OrderedDict()
        # Requests answered by a compiled statement, for the tests and the benchmark to see which path ran.
        self.answered = 0

    # -- compiling -----------------------------------------------------------------------------------------------

    def plan(self, query: str, operation_name: str | None) -> CompiledOperation | None:
        """The compiled form of this document's operation, or None when the resolvers answer it."""
        key = (hashlib.sha256(query.encode("utf-8", "surrogatepass")).digest(), operation_name)
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        found = self._compile(query, operation_name)
        if found is not None and not self._valid(query):
            found = None
        self._remember(key, found)
        return found

    def precompile(self, document_id: str, document: DocumentNode) -> None:
        """Compile a trusted document's operations ahead of its first request (gateway/graphql/trusted.py calls this
        for every registered document as it loads it). Its registration already validated it as /graphql would;
        its id is the SHA-256 of its text, which is how `plan` finds it."""
        digest = bytes.fromhex(document_id.removeprefix("sha256:"))
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        for operation in operations:
            names: list[str | None] = [operation.name.value] if operation.name is not None else []
            if len(operations) == 1:
                names.append(None)
            compiled = None if len(operations) != len(document.definitions) else self._compiled(operation)
            for name in names:
                self._remember((digest, name), compiled)

    def _remember(self, key: tuple[bytes, str | None], compiled: CompiledOperation | None) -> None:
        self._plans[key] = compiled
        if len(self._plans) > CACHE_SIZE:
            self._plans.popitem(last=False)

    def _compiled(self, operation: OperationDefinitionNode) -> CompiledOperation | None:
        for compiler in self.compilers:
            compiled = compiler(operation)
            if compiled is not None:
                return compiled
        return None

    def _compile(self, query: str, operation_name: str | None) -> CompiledOperation | None:
        try:
            document = parse(query, max_tokens=MAX_TOKENS, no_location=True)
        except GraphQLSyntaxError:
            return None
        operation = _operation(document, operation_name)
        if operation is None:
            return None
        return self._compiled(operation)

    def _valid(self, query: str) -> bool:
        """Whether the resolver path would accept the document: the same limits and rules, checked once for it."""
        document = parse(query, max_tokens=MAX_TOKENS, no_location=True)
        deadline = time.monotonic() + _COMPILE_BUDGET_SECONDS
        try:
            if limit_errors(self.schema, document, deadline=deadline):
                return False
            rules = (*specified_rules, NoNulCharacterRule)
            return not validate_by(rules, self.schema, document, deadline=deadline, hide_suggestions=True)
        except BudgetExceeded:
            return False

    # -- answering -----------------------------------------------------------------------------------------------

    async def answer(self, body: Mapping[str, Any], claims: Mapping[str, object]) -> CompiledAnswer:
        """Answer the request by its compiled statement when it has one and the token's claims allow it."""
        query, operation_name, variables = body.get("query"), body.get("operationName"), body.get("variables")
        if not isinstance(query, str) or not isinstance(operation_name, str | None):
            return _FALL_BACK
        if variables is None:
            variables = {}
        if not isinstance(variables, dict) or variable_errors(variables):
            return _FALL_BACK
        compiled = self.plan(query, operation_name)
        if compiled is None:
            return _FALL_BACK
        if compiled.required_scope not in str(claims.get("scope", "")).split():
            return _FALL_BACK  # the resolver path refuses it, with its usual error
        request = compiled.request(variables)
        if request is None:
            return _FALL_BACK
        now = utc_now()
        parameters = compiled.parameters(request, jti=str(claims["jti"]), actor=_actor_label(claims), now=now)
        answer = _answer_of(await self._fetch(compiled.sql, parameters))
        self.answered += answer.body is not None
        return answer

    async def _fetch(self, sql: str, parameters: Any) -> Any:
        pool = await self._connections()
        # One statement outside any explicit transaction: its reads and its audit rows commit together, in one
        # round trip, before the answer is sent.
        return await pool.fetchrow(sql, *parameters)

    @property
    def connections_open(self) -> int:
        """How many connections the compiled reads hold now: at most the configured pool size."""
        return 0 if self._pool is None else self._pool.get_size()

    async def _connections(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=0,
                        max_size=self._pool_size,
                        statement_cache_size=CACHE_SIZE,
                        # A compiled statement is prepared once a connection and run with new parameters each time.
                        # Custom plans cost ~0.8 ms of planning every run and were no better: the inbox statement
                        # took 1.8-2.0 ms a run with the generic plan, 2.7-3.0 ms with custom plans (100,000
                        # referrals, measured for the issue-16 note).
                        server_settings={"plan_cache_mode": "force_generic_plan"},
                        reset=_nothing_to_reset,
                    )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """asyncpg resets a connection on release with a round trip of four statements (CLOSE ALL, RESET ALL, unlock
    advisory locks, UNLISTEN); a compiled read leaves nothing to reset: one statement outside any transaction, no
    cursor, no setting, no lock, no LISTEN. That round trip was a second one on every request."""


def _answer_of(row: Any) -> CompiledAnswer:
    honoured = row["found"] and row["not_revoked"] and row["client_active"] and row["organisation_active"]
    if not honoured or row["user_active"] is False:
        return CompiledAnswer(token_refused=True)
    if not row["granted"] or row["body"] is None:
        return _FALL_BACK  # the person's roles no longer grant the scope: the resolver path refuses, as ever
    return CompiledAnswer(body=row["body"].encode())


def _actor_label(claims: Mapping[str, object]) -> str:
    """Principal.actor_label from the claims alone: the same text the resolver path writes to the audit log."""
    subject = str(claims["sub"])
    if subject.startswith("user:"):
        return f"user:{int(subject.removeprefix('user:'))}"
    return f"client:{claims.get('client_id')}"
