"""Webhook sending: a Standard Webhooks signature over a thin JSON body, POSTed with httpx to a checked address.

The destination is checked (destinations.check_destination: https only in production, no private, loopback or
metadata addresses unless allow-listed) before every send, because DNS can change after registration. The
connection then goes to one of the addresses that check returned, never to a fresh lookup, so a name that
resolves differently a moment later (DNS rebinding) cannot redirect the request; TLS still verifies the name.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore
import httpx
from standardwebhooks.webhooks import Webhook

__all__ = [
    "MAX_RETRY_AFTER_SECONDS",
    "CheckDestination",
    "WebhookResult",
    "WebhookSender",
    "parse_retry_after",
    "signature_header",
]

# Whatever a receiver asks, a retry is never put off beyond an hour: the 24-hour window must still hold retries.
MAX_RETRY_AFTER_SECONDS = 3600.0
# A receiver's answer is read up to this much and dropped: enough to keep the connection reusable for the usual
# empty or tiny acknowledgement, never enough for a hostile receiver to fill memory. It is never logged.
RESPONSE_READ_LIMIT = 4096
USER_AGENT = "referral-gateway-webhooks/1"
CONNECTIONS_PER_POOL = 4

# The addresses the destination check allowed for each host, for the connection made during this send.
_checked_addresses: contextvars.ContextVar[dict[str, list[str]] | None] = contextvars.ContextVar(
    "checked_addresses", default=None
)

CheckDestination = Callable[[str], Awaitable[Sequence[Any]]]
"""Checks a URL for this send and returns the addresses it may connect to; raises when the URL is refused."""


@dataclass(frozen=True)
class WebhookResult:
    """What one POST came to: a status code, or a short error code; never the response body."""

    status_code: int | None
    error: str | None
    retry_after_seconds: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signature_header(*, secrets: Iterable[str], message_id: str, timestamp: datetime, body: str) -> str:
    """The webhook-signature header: one `v1,<base64>` per secret, space-separated (two during a rotation)."""
    return " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in secrets)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), capped at an hour; None if bad."""
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > 64:
        return None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class _CheckedAddressBackend(httpcore.AsyncNetworkBackend):
    """Connects to the addresses the destination check returned for the host, never to a fresh DNS answer."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        allowed = (_checked_addresses.get() or {}).get(host.lower().strip("[]"))
        if not allowed:
            raise httpcore.ConnectError("destination was not checked")
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in allowed:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not webhook destinations")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CheckedAddressTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a connection pool that connects only to checked addresses, ignoring proxy settings."""

    def __init__(self, *, max_connections: int) -> None:
        # trust_env off: an HTTP(S)_PROXY from the environment would carry the request past the address check.
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=_CheckedAddressBackend(),
        )


class WebhookSender:
    """POSTs signed webhooks: a total deadline per attempt, no redirects followed, the answer's body unread."""

    def __init__(
        self,
        *,
        check_destination: CheckDestination,
        timeout_seconds: float = 10.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # httpx logs every request's full URL at INFO; a webhook URL may carry a query string with a token in it.
        # Each attempt gets the dispatcher's own log line instead, with ids and no URL.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._check = check_destination
        self._timeout = timeout_seconds
        # httpcore's pool does work proportional to its connections times its requests on every change, so one
        # pool of 64 spent ~5 ms of CPU per request here; pools of 4 spend a fraction of that. Each request goes to
        # the least busy pool, so while no more than max_connections requests are in flight (the dispatcher's
        # concurrency bound) a request never queues behind a slow receiver's requests in a full pool.
        shards = 1 if transport is not None else max(1, -(-max_connections // CONNECTIONS_PER_POOL))
        self._clients = [
            httpx.AsyncClient(
                transport=transport or _CheckedAddressTransport(max_connections=CONNECTIONS_PER_POOL),
                timeout=httpx.Timeout(timeout_seconds),
                follow_redirects=False,
                trust_env=False,
                headers={"user-agent": USER_AGENT},
            )
            for _ in range(shards)
        ]
        self._busy = [0] * shards

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def send(
        self, *, url: str, secrets: Sequence[str], message_id: str, body: str, now: datetime | None = None
    ) -> WebhookResult:
        """POST `body` to `url`, signed with each secret; the outcome as a status code or a short error code.

        The deadline covers the destination check (a DNS lookup) too, so an attempt never outlasts its lease.
        """
        try:
            async with asyncio.timeout(self._timeout):
                return await self._checked_send(url, secrets, message_id, body, now)
        except TimeoutError:
            return WebhookResult(status_code=None, error="timeout")
        except httpx.TimeoutException:
            return WebhookResult(status_code=None, error="timeout")
        except (httpx.ConnectError, httpx.ProxyError):
            return WebhookResult(status_code=None, error="connect")
        except httpx.HTTPError:
            return WebhookResult(status_code=None, error="transport")

    async def _checked_send(
        self, url: str, secrets: Sequence[str], message_id: str, body: str, now: datetime | None
    ) -> WebhookResult:
        try:
            addresses = await self._check(url)
        except Exception:  # any refusal: its reason is a registration matter and may quote the URL
            return WebhookResult(status_code=None, error="refused-destination")
        host = (httpx.URL(url).host or "").lower()
        timestamp = now or datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature_header(
                secrets=secrets, message_id=message_id, timestamp=timestamp, body=body
            ),
        }
        token = _checked_addresses.set({host: [str(address) for address in addresses]})
        try:
            return await self._post(url, body.encode(), headers)
        finally:
            _checked_addresses.reset(token)

    async def _post(self, url: str, content: bytes, headers: dict[str, str]) -> WebhookResult:
        shard = min(range(len(self._clients)), key=self._busy.__getitem__)
        self._busy[shard] += 1
        try:
            return await self._post_with(self._clients[shard], url, content, headers)
        finally:
            self._busy[shard] -= 1

    async def _post_with(
        self, client: httpx.AsyncClient, url: str, content: bytes, headers: dict[str, str]
    ) -> WebhookResult:
        async with client.stream("POST", url, content=content, headers=headers) as response:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= RESPONSE_READ_LIMIT:
                    break
            code = response.status_code
            retry_after = parse_retry_after(response.headers.get("retry-after"), now=datetime.now(UTC))
        if 200 <= code < 300:
            return WebhookResult(status_code=code, error=None)
        return WebhookResult(status_code=code, error=f"http-{code}", retry_after_seconds=retry_after)
