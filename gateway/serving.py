"""How `gateway serve` runs uvicorn, so that slow clients cannot hold the server.

uvicorn waits for a request's head for as long as the client likes: a connection that sends half a request line
and stalls is kept open for good, and a few thousand of them exhaust the process. Here each connection gets
`GATEWAY_REQUEST_HEAD_TIMEOUT_SECONDS` to send a complete head (from when it opens, or when the next request on
it begins) and at most `GATEWAY_MAX_REQUEST_HEAD_BYTES` of it; otherwise it is answered 408 or 431 and closed.
A body that does not arrive in time is answered 408 by gateway.middleware.RequestBodyTimeoutMiddleware. Idle
keep-alive connections close after `GATEWAY_KEEP_ALIVE_TIMEOUT_SECONDS`, and beyond `GATEWAY_MAX_CONNECTIONS`
open connections uvicorn answers new requests 503 at once rather than take on more work.

The head deadline extends uvicorn's httptools protocol, its default where httptools is installed (it is pinned
with uvicorn in pyproject.toml); tests/test_slow_clients.py holds it to its behaviour against a real server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from gateway.settings import Settings

# What uvicorn.run exits with when the server never started (uvicorn.main.STARTUP_FAILURE).
STARTUP_FAILURE = 3
# How long a refused connection is read (and its input dropped) before it is closed: see _refuse.
LINGER_SECONDS = 2.0


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration, with the request-head limits its protocol lacks."""

    def __init__(self, app: Any, *, request_head_timeout: float, max_request_head_bytes: int, **options: Any) -> None:
        super().__init__(app, http=RequestHeadLimitProtocol, **options)
        self.request_head_timeout = request_head_timeout
        self.max_request_head_bytes = max_request_head_bytes


def server_config(settings: Settings, app: Any, *, host: str, port: int, workers: int = 1) -> ServerConfig:
    """How the gateway is served: `app` is the ASGI app, or an import string for several workers."""
    return ServerConfig(
        app,
        host=host,
        port=port,
        workers=workers,
        request_head_timeout=settings.request_head_timeout_seconds,
        max_request_head_bytes=settings.max_request_head_bytes,
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        limit_concurrency=settings.max_connections,
        access_log=False,
        log_config=None,
        server_header=False,
        # Off: uvicorn would take the client from X-Forwarded-For on any 127.0.0.1 connection; the gateway believes
        # forwarding headers only from GATEWAY_TRUSTED_PROXIES (gateway/client_address.py).
        proxy_headers=False,
    )


def serve(config: ServerConfig) -> None:
    """Serve until stopped, in one process or in `config.workers` (as uvicorn.run does)."""
    server = uvicorn.Server(config)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


class RequestHeadLimitProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit for each request's head."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not isinstance(config, ServerConfig):
            raise TypeError("RequestHeadLimitProtocol takes its limits from a ServerConfig")
        super().__init__(config, server_state, app_state, _loop)
        self._head_timeout = config.request_head_timeout
        self._max_head_bytes = config.max_request_head_bytes
        self._head_deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # refused: what the client is still sending is read only to be dropped (see _refuse)
        super().data_received(data)
        if self._head_deadline is not None and not self.transport.is_closing():
            # The head is still incomplete after this data: count it (to within one read of the limit).
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head_bytes:
                self._head_arrived()
                self._refuse(431, "Request Header Fields Too Large", linger=True)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_deadline is None:  # a later request on a kept-alive connection
            self._await_head()

    def on_headers_complete(self) -> None:
        self._head_arrived()
        super().on_headers_complete()

    def _await_head(self) -> None:
        self._head_bytes = 0
        self._head_deadline = self.loop.call_later(self._head_timeout, self._head_too_late)

    def _head_arrived(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_late(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # The next request's head is late while an answer is still being sent: finish that, then close.
            self.cycle.keep_alive = False
            return
        self._refuse(408, "Request Timeout")

    def _refuse(self, status: int, reason: str, *, linger: bool = False) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # an answer is being sent: a second one would garble it
            return
        body = reason.encode("ascii")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, body, len(body), body)
        )
        if not linger:
            self.transport.close()
            return
        # A lingering close, as nginx and Apache do it: closing a socket with unread input makes the kernel send
        # RST, which can destroy the refusal in the client's buffers before it is read (a head over the limit
        # leaves most of itself unread; a late head has sent all it had). So the refusal is sent and our side shut
        # for writing, the input read and dropped for a moment, and only then the connection closed.
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
