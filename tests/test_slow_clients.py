"""Slow clients cannot hold the server: the gateway served as `gateway serve` serves it, on loopback.

Half-sent requests used to be held open for good. Now a request's head must arrive within the head timeout and
its body within the body timeout, or the connection is answered 408 and closed; a head over the size limit gets
431; and beyond the connection cap new requests get 503 at once. Small timeouts keep the tests short.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Iterator

import httpx
import pytest

from gateway.app import create_app
from gateway.serving import server_config
from gateway.settings import Settings
from tests.support.api import ISSUER, ApiWorld, api_templates, database_url, world
from tests.support.loopback import free_port, running

__all__ = ["api_templates", "database_url", "world"]

HEAD_TIMEOUT = 4.0
BODY_TIMEOUT = 4.0
SLOW_CLIENTS = 500
PROMPTLY = 2.0  # seconds: a generous bound for an answer on loopback
HALF_A_HEAD = b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appli"
HEAD_AND_HALF_A_BODY = (
    b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
    b'{"query": "{ vie'
)
VIEWER = {"query": "{ viewer { organisation kind } }"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        issuer_url=ISSUER,
        request_head_timeout_seconds=HEAD_TIMEOUT,
        request_body_timeout_seconds=BODY_TIMEOUT,
        max_connections=SLOW_CLIENTS + 100,
    )


@contextlib.contextmanager
def served(settings: Settings) -> Iterator[str]:
    """The gateway on loopback, configured as `gateway serve` configures uvicorn; its base URL."""
    config = server_config(settings, create_app(settings), host="127.0.0.1", port=free_port())
    with running(config) as url:
        yield url


async def _stall(port: int, sent: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(sent)
    await writer.drain()
    return reader, writer


async def _answer_and_close(reader: asyncio.StreamReader, wait: float) -> bytes | None:
    """Everything the server sent until it closed the connection; None if it still held it after `wait` seconds."""
    try:
        return await asyncio.wait_for(reader.read(), wait)
    except TimeoutError:
        return None


async def _token(http: httpx.AsyncClient, credentials: tuple[str, str]) -> str:
    response = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=credentials)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def _timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


async def test_five_hundred_slow_clients_neither_stop_a_normal_one_nor_stay_open(
    settings: Settings, world: ApiWorld
) -> None:
    with served(settings) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        async with httpx.AsyncClient(base_url=base_url) as http:
            token = await _token(http, world.credentials["hub"])

            # Given 500 clients that each sent half a request and stalled: half of them mid-head, half mid-body
            stalled_at = time.monotonic()
            slow = [
                await _stall(port, HALF_A_HEAD if number % 2 else HEAD_AND_HALF_A_BODY)
                for number in range(SLOW_CLIENTS)
            ]

            # When a normal client asks for /healthz and a GraphQL answer meanwhile
            health, health_took = await _timed(http.get("/healthz"))
            graphql, graphql_took = await _timed(
                http.post("/graphql", json=VIEWER, headers={"authorization": f"Bearer {token}"})
            )
            answered_at = time.monotonic()

            # Then both are answered promptly, while every slow client is still being waited for
            assert health.status_code == 200
            assert graphql.status_code == 200
            assert graphql.json() == {"data": {"viewer": {"organisation": "hub", "kind": "client"}}}
            assert health_took < PROMPTLY and graphql_took < PROMPTLY
            assert answered_at - stalled_at < HEAD_TIMEOUT

            # And each slow client is answered 408 and closed once its timeout has passed
            answers = await asyncio.gather(*(_answer_and_close(reader, HEAD_TIMEOUT + 10) for reader, _ in slow))
            closed_after = time.monotonic() - stalled_at
            for _, writer in slow:
                writer.close()
    held_open = sum(answer is None for answer in answers)
    timed_out = sum(answer is not None and answer.startswith(b"HTTP/1.1 408 ") for answer in answers)
    assert (held_open, timed_out) == (0, SLOW_CLIENTS)
    assert closed_after >= HEAD_TIMEOUT
    body_answers = [answer for number, answer in enumerate(answers) if number % 2 == 0]
    assert all(answer is not None and b'"error":"request-timeout"' in answer for answer in body_answers)


async def test_beyond_the_connection_cap_requests_are_refused_at_once_until_slow_clients_are_closed(
    database_url: str,
) -> None:
    settings = Settings(
        database_url=database_url, issuer_url=ISSUER, request_head_timeout_seconds=HEAD_TIMEOUT, max_connections=20
    )
    with served(settings) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        async with httpx.AsyncClient(base_url=base_url) as http:
            # Given as many stalled connections as the cap allows
            slow = [await _stall(port, HALF_A_HEAD) for _ in range(20)]

            # When a normal client asks, and again once the slow ones have been closed
            refused, refused_took = await _timed(http.get("/healthz"))
            closed = [await _answer_and_close(reader, HEAD_TIMEOUT + 10) for reader, _ in slow]
            served_again = await http.get("/healthz")
        for _, writer in slow:
            writer.close()

    # Then it is refused with 503 at once rather than queued, and served once there is room
    assert (refused.status_code, served_again.status_code) == (503, 200)
    assert refused_took < PROMPTLY
    assert None not in closed


async def test_a_stalled_second_request_on_a_kept_alive_connection_is_closed(database_url: str) -> None:
    settings = Settings(database_url=database_url, issuer_url=ISSUER, request_head_timeout_seconds=1.0)
    with served(settings) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        # Given a connection that had one request answered and kept alive
        reader, writer = await _stall(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b'{"status":"ok"}'), PROMPTLY)

        # When it sends half of the next request's head and stalls
        writer.write(b"GET /healthz HTTP/1.1\r\nHo")
        await writer.drain()

        # Then it is answered 408 and closed after the head timeout
        rest = await _answer_and_close(reader, 10)
        writer.close()
    assert first.startswith(b"HTTP/1.1 200 ")
    assert rest is not None and rest.startswith(b"HTTP/1.1 408 ")


async def test_a_request_head_over_the_limit_is_refused_with_431(database_url: str) -> None:
    settings = Settings(database_url=database_url, issuer_url=ISSUER, max_request_head_bytes=8 * 1024)
    with served(settings) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        reader, writer = await _stall(
            port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 64 * 1024
        )

        answer = await _answer_and_close(reader, 10)
        writer.close()
    assert answer is not None and answer.startswith(b"HTTP/1.1 431 ")


async def test_a_refused_head_reaches_a_client_that_is_still_sending_when_it_comes(database_url: str) -> None:
    """The 431 must not be lost to a reset: the server drops what is still coming instead of closing on it."""
    settings = Settings(database_url=database_url, issuer_url=ISSUER, max_request_head_bytes=8 * 1024)
    with served(settings) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # A head far over the limit, sent without waiting: most of it is still on its way when the refusal comes.
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 4 * 1024 * 1024)
        await asyncio.sleep(0.5)  # the client reads only later

        answer = await _answer_and_close(reader, 10)
        writer.transport.abort()
    assert answer is not None and answer.startswith(b"HTTP/1.1 431 ")
