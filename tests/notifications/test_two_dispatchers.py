"""Two `gateway dispatch` processes against one PostgreSQL database share the work: the receiver never has the
same delivery in flight twice at once, every event arrives exactly once, and each subject's events in order."""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from gateway.db import create_engine, create_session_factory
from gateway.events.models import EventType
from gateway.events.service import record_event
from gateway.notifications.models import NotificationDelivery
from gateway.organisations.models import Organisation
from gateway.settings import Settings
from tests.notifications.receivers import (
    Behaviour,
    WebhookReceiver,
    add_webhook,
    attempt_lines,
    eventually,
    rows,
    start_dispatcher,
)
from tests.support.api import ISSUER, api_templates, database_url

__all__ = ["api_templates", "database_url"]

SUBJECTS = 30
BATCHES = 3
PER_BATCH = 100


@pytest.fixture(params=["postgresql"])
def database_kind(request: pytest.FixtureRequest) -> str:
    """Only PostgreSQL: SQLite runs one dispatcher."""
    return str(request.param)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, issuer_url=ISSUER, dispatch_in_serve=False)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver().running() as running:
        yield running


async def record_batch(settings: Settings, first: int) -> list[int]:
    """One transaction of events for the CPN, round-robin over the subjects (task ids 1..SUBJECTS)."""
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            cpn = (await db.exec(select(Organisation.id).where(col(Organisation.slug) == "cpn"))).one()
            assert cpn is not None
            ids = []
            for n in range(first, first + PER_BATCH):
                event = await record_event(
                    db=db,
                    event_type=EventType.TASK_REQUESTED if n < SUBJECTS else EventType.TASK_CANCELLED,
                    organisation_id=cpn,
                    subject_ids={"task": n % SUBJECTS + 1, "sequence": n},
                )
                assert event.id is not None
                ids.append(event.id)
            return ids
    finally:
        await engine.dispose()


async def test_two_dispatchers_share_the_work_without_delivering_one_event_twice_at_once(
    settings: Settings, receiver: WebhookReceiver, database_url: str, tmp_path: Path
) -> None:
    # Given a receiver that takes a moment over each request, so overlapping duplicates would show
    _, secret = await add_webhook(settings, "cpn", receiver.url("cpn"))
    receiver.expect("cpn", secret, Behaviour(status=200, delay=0.02))
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    environment = {"GATEWAY_DISPATCH_CONCURRENCY": "16"}

    # When two dispatcher processes run while batches of events are committed
    processes = [start_dispatcher(database_url, log, **environment) for log in logs]
    try:
        recorded: list[int] = []
        for batch in range(BATCHES):
            recorded += await record_batch(settings, batch * PER_BATCH)
            await asyncio.sleep(0.3)
        expected = {f"evt_{event_id}" for event_id in recorded}
        await eventually(
            lambda: set(receiver.delivered_ids("cpn")) == expected, seconds=90, what="every event delivered"
        )
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        exits = [process.wait(timeout=30) for process in processes]
    assert exits == [0, 0]

    # Then no delivery was ever in flight twice, and each event arrived exactly once
    assert receiver.overlaps == []
    delivered = receiver.delivered_ids("cpn")
    assert sorted(delivered) == sorted(expected)
    assert receiver.unverified == 0
    # and both processes did a share of the work
    shares = [len(attempt_lines(log)) for log in logs]
    assert all(share > 0 for share in shares), shares
    assert sum(shares) == len(expected)
    # and each task's events arrived in the order they were committed
    by_task: dict[int, list[int]] = defaultdict(list)
    for request in receiver.on("cpn"):
        by_task[request.payload["data"]["task"]].append(request.payload["data"]["sequence"])
    assert len(by_task) == SUBJECTS
    assert all(sequence == sorted(sequence) for sequence in by_task.values())
    assert {d.status for d in await rows(settings, NotificationDelivery)} == {"delivered"}
