"""Real receivers on loopback for the notification tests: a webhook server that verifies Standard Webhooks
signatures with the `standardwebhooks` library, and an SMTP server (aiosmtpd) that keeps what it is handed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlmodel import SQLModel, col, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.db import create_engine, create_session_factory
from gateway.events.models import EventType
from gateway.events.service import record_event
from gateway.notifications.registration import CONSOLE, register_mailbox, register_webhook
from gateway.organisations.models import Organisation
from gateway.settings import Settings
from tests.support.api import ISSUER
from tests.support.loopback import free_port, served


@dataclass(frozen=True)
class Received:
    """One webhook request as the receiver saw it: the path, the verified payload, headers, when it arrived."""

    path: str
    webhook_id: str
    payload: dict[str, Any]
    body: str
    headers: dict[str, str]
    arrived: float  # time.time()
    status: int


@dataclass
class Behaviour:
    """How one path answers: a status, optional headers, and a delay before answering (seconds)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    gate: threading.Event | None = None  # when set, the answer waits until the test opens the gate


class WebhookReceiver:
    """A starlette app under uvicorn on 127.0.0.1: each path has a secret and a behaviour, and every request whose
    signature verifies is recorded; requests that fail verification are counted and answered 400."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.secrets: dict[str, list[str]] = {}
        self.behaviours: dict[str, Behaviour] = {}
        self.received: list[Received] = []
        self.unverified = 0
        self._in_flight: dict[tuple[str, str], int] = {}
        self.overlaps: list[tuple[str, str]] = []  # (path, webhook-id) seen twice at the same moment
        self.base_url = ""

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

    @contextlib.contextmanager
    def running(self) -> Iterator[WebhookReceiver]:
        with served(self.app()) as base_url:
            self.base_url = base_url
            yield self

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    def expect(self, path: str, secret: str, behaviour: Behaviour | None = None) -> None:
        with self._lock:
            self.secrets.setdefault(path, []).append(secret)
            self.behaviours[path] = behaviour or self.behaviours.get(path, Behaviour())

    def behave(self, path: str, behaviour: Behaviour) -> None:
        with self._lock:
            self.behaviours[path] = behaviour

    async def _handle(self, request: Request) -> Response:
        path = request.path_params["path"]
        body = (await request.body()).decode()
        headers = dict(request.headers)
        payload = None
        for secret in self.secrets.get(path, []):
            try:
                payload = Webhook(secret).verify(body, headers)
                break
            except WebhookVerificationError:
                continue
        if payload is None:
            with self._lock:
                self.unverified += 1
            return Response(status_code=400)
        webhook_id = headers["webhook-id"]
        behaviour = self.behaviours.get(path, Behaviour())
        key = (path, webhook_id)
        with self._lock:
            if self._in_flight.get(key, 0):
                self.overlaps.append(key)
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            if behaviour.delay:
                await asyncio.sleep(behaviour.delay)
            if behaviour.gate is not None:
                await asyncio.to_thread(behaviour.gate.wait, 60)
        finally:
            with self._lock:
                self._in_flight[key] -= 1
                self.received.append(Received(path, webhook_id, payload, body, headers, time.time(), behaviour.status))
        return Response(status_code=behaviour.status, headers=behaviour.headers)

    def in_flight(self, path: str) -> int:
        with self._lock:
            return sum(count for (where, _), count in self._in_flight.items() if where == path)

    def on(self, path: str) -> list[Received]:
        with self._lock:
            return [item for item in self.received if item.path == path]

    def delivered_ids(self, path: str) -> list[str]:
        """The webhook-ids answered 2xx on a path, in arrival order (duplicates kept)."""
        return [item.webhook_id for item in self.on(path) if 200 <= item.status < 300]


async def eventually(condition: Callable[[], bool], *, seconds: float = 20.0, what: str = "condition") -> None:
    """Wait (polling) until the condition holds; a hard upper bound so a broken dispatcher fails, not hangs."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, Message]] = []
        self.refused = 0
        self.answer = "250 Message accepted for delivery"  # a test may make the server refuse instead
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        with self._lock:
            if not self.answer.startswith("250"):
                self.refused += 1
                return self.answer
            self.messages.append((envelope, message_from_bytes(content)))
        return self.answer

    def all(self) -> list[tuple[Envelope, Message]]:
        with self._lock:
            return list(self.messages)


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 in its own thread: (port, mailbox of what it accepted)."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()


# -- the database side: endpoints registered the way an administrator does, events recorded the way services do --


async def add_webhook(settings: Settings, slug: str, url: str, event_types: tuple[str, ...] = ()) -> tuple[int, str]:
    """Register a webhook for an organisation through the registration service: (endpoint id, its secret)."""
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            issued = await register_webhook(
                db=db, actor=CONSOLE, settings=settings, organisation_slug=slug, url=url, event_types=event_types
            )
            assert issued.endpoint.id is not None and issued.secret is not None
            return issued.endpoint.id, issued.secret
    finally:
        await engine.dispose()


async def add_mailbox(settings: Settings, slug: str, mailbox: str) -> int:
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            endpoint = await register_mailbox(db=db, actor=CONSOLE, organisation_slug=slug, mailbox=mailbox)
            assert endpoint.id is not None
            return endpoint.id
    finally:
        await engine.dispose()


async def record(settings: Settings, slug: str, event_type: EventType, **subject_ids: Any) -> int:
    """Commit one outbox event for an organisation, as a service does with its change; the event's id."""
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            organisation_id = (await db.exec(select(Organisation.id).where(col(Organisation.slug) == slug))).one()
            assert organisation_id is not None
            event = await record_event(
                db=db, event_type=event_type, organisation_id=organisation_id, subject_ids=subject_ids
            )
            assert event.id is not None
            return event.id
    finally:
        await engine.dispose()


async def rows(settings: Settings, model: type[SQLModel], *where: Any) -> list[Any]:
    """Every row of a table (optionally filtered), ordered by id, read on a fresh connection."""
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            table: sa.Table = model.__table__  # type: ignore[attr-defined]
            query = select(model).where(*where).order_by(table.c.id)
            return list((await db.exec(query)).all())
    finally:
        await engine.dispose()


# -- `gateway dispatch` as a real process ---------------------------------------------------------------------

REPOSITORY = Path(__file__).resolve().parents[2]


def start_dispatcher(database_url: str, log: Path, **environment: str) -> subprocess.Popen[bytes]:
    """`python -m gateway dispatch` against the database, its JSON log lines appended to `log`."""
    env = {
        **os.environ,
        "GATEWAY_ENV": "development",
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_ISSUER_URL": ISSUER,
        "GATEWAY_DISPATCH_POLL_SECONDS": "0.05",
        **environment,
    }
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", "dispatch"],
            env=env,
            cwd=REPOSITORY,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )


def attempt_lines(log: Path) -> list[dict[str, Any]]:
    """The per-attempt JSON log lines a dispatcher process wrote."""
    lines = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("message") == "notification attempt":
                lines.append(entry)
    return lines
