"""`gateway notifications`, run as a real process against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import col, select

from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.events.models import OutboxEvent
from gateway.notifications.models import NotificationDelivery, NotificationEndpoint, TaskEscalation
from tests.support.domain import World, count, make_sent_task

REPOSITORY = Path(__file__).resolve().parent.parent.parent
HOOK = "http://127.0.0.1:9/hooks"


def gateway(*argv: str, database_url: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "GATEWAY_ENV": "development", **environment}
    return subprocess.run(
        [sys.executable, "-m", "gateway", "notifications", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPOSITORY,
        check=False,
    )


async def _endpoint(db: AsyncSession, endpoint_id: int) -> NotificationEndpoint:
    query = select(NotificationEndpoint).where(col(NotificationEndpoint.id) == endpoint_id)
    return (await db.exec(query.execution_options(populate_existing=True))).one()


async def test_an_operator_registers_lists_rotates_and_switches_a_webhook(
    database_url: str, db: AsyncSession, world: World
) -> None:
    # When the operator registers a webhook for CPN, lists, rotates its secret and switches it off and on
    added = gateway("add-webhook", "cpn", HOOK, "--event", "task.requested", "--json", database_url=database_url)
    assert added.returncode == 0, added.stderr
    created = json.loads(added.stdout)
    listed = gateway("list", "cpn", database_url=database_url)
    rotated = gateway("rotate-secret", str(created["endpoint_id"]), "--json", database_url=database_url)
    disabled = gateway("disable", str(created["endpoint_id"]), database_url=database_url)
    off = await _endpoint(db, created["endpoint_id"])
    # One session holds one object per row: read what matters before the next read refreshes it.
    off_state = (off.active, off.disabled_reason)
    enabled = gateway("enable", str(created["endpoint_id"]), database_url=database_url)
    on = await _endpoint(db, created["endpoint_id"])

    # Then the secret was printed once, at registration, and again only when rotated; the list never shows one
    assert created["secret"].startswith("whsec_")
    assert listed.returncode == 0 and HOOK in listed.stdout and "task.requested" in listed.stdout
    assert created["secret"] not in listed.stdout and "whsec_" not in listed.stdout
    new_secret = json.loads(rotated.stdout)["secret"]
    assert new_secret.startswith("whsec_") and new_secret != created["secret"]
    assert (disabled.returncode, enabled.returncode) == (0, 0)
    assert (*off_state, on.active, on.disabled_reason) == (False, "administrator", True, None)
    assert (on.secret, on.previous_secret, on.version) == (new_secret, created["secret"], 4)


async def test_an_operator_registers_a_team_mailbox(database_url: str, db: AsyncSession, world: World) -> None:
    added = gateway("add-mailbox", "hub", "referrals-team@hub.example.org", database_url=database_url)

    assert added.returncode == 0, added.stderr
    endpoint_id = int(added.stdout.split(":")[1])
    endpoint = await _endpoint(db, endpoint_id)
    assert (endpoint.kind, endpoint.mailbox, endpoint.organisation_id) == (
        "email",
        "referrals-team@hub.example.org",
        world.org_id("hub"),
    )


async def test_a_refused_registration_exits_non_zero_without_repeating_the_url(
    database_url: str, db: AsyncSession, world: World
) -> None:
    production = {
        "GATEWAY_ENV": "production",
        "GATEWAY_ISSUER_URL": "https://gateway.example.net",
        "GATEWAY_SESSION_SECRET": "a-long-random-session-secret-for-production-0123456789",
    }
    refused = gateway("add-webhook", "cpn", "https://10.20.30.40/secret-path", database_url=database_url, **production)
    unknown = gateway("add-webhook", "nobody", HOOK, database_url=database_url)
    bad_event = gateway("add-webhook", "cpn", HOOK, "--event", "task.exploded", database_url=database_url)

    assert refused.returncode == 1 and "(validation)" in refused.stderr
    assert "10.20.30.40" not in refused.stderr and "secret-path" not in refused.stderr
    assert unknown.returncode == 1 and "Unknown organisation" in unknown.stderr
    assert bad_event.returncode == 2
    assert await count(db, NotificationEndpoint) == 0


async def test_dead_letters_are_listed_and_redelivered(database_url: str, db: AsyncSession, world: World) -> None:
    added = gateway("add-webhook", "cpn", HOOK, "--json", database_url=database_url)
    endpoint_id = json.loads(added.stdout)["endpoint_id"]
    event = OutboxEvent(type="consent.withdrawn", organisation_id=world.org_id("cpn"), subject_ids={"consent": 3})
    db.add(event)
    await db.flush()
    assert event.id is not None
    delivery = NotificationDelivery(
        event_id=event.id,
        endpoint_id=endpoint_id,
        subject_key="consent:3",
        status="dead",
        attempts=15,
        next_attempt_at=utc_now(),
        last_error="timeout",
        dead_at=utc_now(),
    )
    db.add(delivery)
    await db.commit()

    listed = gateway("dead-letters", database_url=database_url)
    redelivered = gateway("redeliver", str(delivery.id), database_url=database_url)
    again = gateway("redeliver", str(delivery.id), database_url=database_url)
    after = gateway("dead-letters", database_url=database_url)

    assert listed.returncode == 0
    [line] = listed.stdout.splitlines()
    assert line.split()[:2] == [str(delivery.id), "consent.withdrawn"] and "timeout" in line
    assert redelivered.returncode == 0 and "pending" in redelivered.stdout
    assert again.returncode == 1 and "(invalid-transition)" in again.stderr
    assert after.stdout == ""
    stored = (
        await db.exec(
            select(NotificationDelivery)
            .where(col(NotificationDelivery.id) == delivery.id)
            .execution_options(populate_existing=True)
        )
    ).one()
    assert (stored.status, stored.attempts) == ("pending", 15)


async def test_the_sweep_escalates_once(database_url: str, db: AsyncSession, world: World) -> None:
    task = await make_sent_task(db, world, "cpn")
    task.accept_due_at = utc_now().replace(year=2000)
    db.add(task)
    await db.commit()

    first = gateway("sweep", database_url=database_url)
    second = gateway("sweep", database_url=database_url)

    assert (first.stdout, second.stdout) == ("escalated 1\n", "escalated 0\n")
    assert await count(db, TaskEscalation) == 1
