"""Registering endpoints: administrators only, secrets shown once and rotated with an overlap, versions checked."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlmodel import col, select
from standardwebhooks.webhooks import Webhook

from gateway.auth.principal import Principal, Role
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.errors import DomainError, ErrorCode
from gateway.events.models import EventType, OutboxEvent
from gateway.notifications import registration
from gateway.notifications.models import DeliveryStatus, NotificationDelivery, NotificationEndpoint
from gateway.notifications.registration import CONSOLE, EndpointChanges
from gateway.settings import Settings
from tests.support.domain import World, count

HOOK = "http://127.0.0.1:9/hooks"


def admin(world: World) -> Principal:
    return world.person("hub", Role.ADMINISTRATOR, user_id=99)


async def webhook(db: AsyncSession, world: World, settings: Settings, **options: object) -> registration.IssuedSecret:
    issued = await registration.register_webhook(
        db=db,
        actor=admin(world),
        settings=settings,
        organisation_slug="cpn",
        url=HOOK,
        **options,  # type: ignore[arg-type]
    )
    await db.commit()
    return issued


async def test_an_administrator_registers_a_webhook_and_sees_its_secret_once(
    db: AsyncSession, world: World, settings: Settings
) -> None:
    issued = await webhook(db, world, settings, event_types=[EventType.CONSENT_WITHDRAWN, EventType.TASK_REQUESTED])

    assert issued.secret is not None and issued.secret.startswith("whsec_")
    assert len(base64.b64decode(issued.secret.removeprefix("whsec_"))) == 24
    Webhook(issued.secret)  # the Standard Webhooks library accepts it as a signing key
    listed = await registration.list_endpoints(db=db, actor=admin(world), organisation_slug="cpn")
    assert [(e.organisation_id, e.kind, e.url, e.event_types, e.active, e.version) for e in listed] == [
        (world.org_id("cpn"), "webhook", HOOK, ["task.requested", "consent.withdrawn"], True, 1)
    ]


async def test_each_webhook_gets_its_own_secret(db: AsyncSession, world: World, settings: Settings) -> None:
    first = await webhook(db, world, settings)
    second = await webhook(db, world, settings)

    assert first.secret != second.secret


@pytest.mark.parametrize(
    "role", [Role.HUB_COORDINATOR, Role.HUB_SUPERVISOR, Role.PROVIDER_MANAGER, Role.COMMISSIONER_ANALYST]
)
async def test_only_administrators_register_or_read_endpoints(
    db: AsyncSession, world: World, settings: Settings, role: Role
) -> None:
    someone = world.person("cpn" if role is Role.PROVIDER_MANAGER else "hub", role)

    with pytest.raises(DomainError) as refused:
        await registration.register_webhook(db=db, actor=someone, settings=settings, organisation_slug="cpn", url=HOOK)
    await db.rollback()
    with pytest.raises(DomainError) as listing:
        await registration.list_endpoints(db=db, actor=someone, organisation_slug="cpn")

    assert refused.value.code is listing.value.code is ErrorCode.FORBIDDEN
    assert await count(db, NotificationEndpoint) == 0


@pytest.mark.parametrize(
    ("organisation", "url", "events"),
    [
        ("no-such-organisation", HOOK, []),
        ("cpn", HOOK, ["task.exploded"]),
        ("cpn", "http://169.254.169.254/latest/meta-data/", []),
        ("cpn", "gopher://127.0.0.1/", []),
    ],
)
async def test_a_bad_registration_is_refused_and_stores_nothing(
    db: AsyncSession, world: World, settings: Settings, organisation: str, url: str, events: list[str]
) -> None:
    with pytest.raises(DomainError) as refused:
        await registration.register_webhook(
            db=db, actor=CONSOLE, settings=settings, organisation_slug=organisation, url=url, event_types=events
        )
    await db.rollback()

    assert refused.value.code is ErrorCode.VALIDATION
    assert url not in refused.value.message and organisation not in refused.value.message
    assert await count(db, NotificationEndpoint) == 0


async def test_a_team_mailbox_is_registered_and_a_malformed_one_refused(db: AsyncSession, world: World) -> None:
    mailbox = await registration.register_mailbox(
        db=db, actor=admin(world), organisation_slug="hub", mailbox=" referrals-team@hub.example.org "
    )
    assert (mailbox.kind, mailbox.mailbox, mailbox.secret, mailbox.url) == (
        "email",
        "referrals-team@hub.example.org",
        None,
        None,
    )
    for bad in ("not-an-address", "two@@example.org", "a@b", "x" * 250 + "@example.org", "a@example.org\nBcc: b@c.d"):
        with pytest.raises(DomainError) as refused:
            await registration.register_mailbox(db=db, actor=admin(world), organisation_slug="hub", mailbox=bad)
        assert refused.value.code is ErrorCode.VALIDATION and bad not in refused.value.message


async def test_rotation_keeps_the_old_secret_signing_for_the_overlap(
    db: AsyncSession, world: World, settings: Settings
) -> None:
    issued = await webhook(db, world, settings)
    endpoint_id = issued.endpoint.id
    assert endpoint_id is not None
    now = utc_now()

    rotated = await registration.rotate_secret(
        db=db, actor=admin(world), endpoint_id=endpoint_id, expected_version=1, now=now
    )
    await db.commit()

    assert rotated.secret is not None and rotated.secret not in (issued.secret, None)
    endpoint = rotated.endpoint
    assert (endpoint.secret, endpoint.previous_secret, endpoint.version) == (rotated.secret, issued.secret, 2)
    assert endpoint.previous_secret_expires_at == now + timedelta(hours=24)
    assert registration.signing_secrets(endpoint, now=now + timedelta(hours=23)) == [rotated.secret, issued.secret]
    assert registration.signing_secrets(endpoint, now=now + timedelta(hours=24)) == [rotated.secret]


async def test_rotation_without_overlap_drops_the_old_secret_at_once(
    db: AsyncSession, world: World, settings: Settings
) -> None:
    issued = await webhook(db, world, settings)
    assert issued.endpoint.id is not None

    rotated = await registration.rotate_secret(db=db, actor=CONSOLE, endpoint_id=issued.endpoint.id, overlap_hours=0)

    assert rotated.endpoint.previous_secret is None
    assert registration.signing_secrets(rotated.endpoint) == [rotated.secret]


async def test_rotation_and_updates_refuse_a_stale_version_and_change_nothing(
    db: AsyncSession, world: World, settings: Settings
) -> None:
    issued = await webhook(db, world, settings)
    endpoint_id = issued.endpoint.id
    assert endpoint_id is not None
    await registration.update_endpoint(
        db=db,
        actor=admin(world),
        settings=settings,
        endpoint_id=endpoint_id,
        expected_version=1,
        changes=EndpointChanges(event_types=[EventType.TASK_CANCELLED]),
    )
    await db.commit()

    for stale in (
        registration.rotate_secret(db=db, actor=admin(world), endpoint_id=endpoint_id, expected_version=1),
        registration.update_endpoint(
            db=db,
            actor=admin(world),
            settings=settings,
            endpoint_id=endpoint_id,
            expected_version=1,
            changes=EndpointChanges(active=False),
        ),
    ):
        with pytest.raises(DomainError) as refused:
            await stale
        await db.rollback()
        assert refused.value.code is ErrorCode.CONFLICT

    stored = (await db.exec(select(NotificationEndpoint).execution_options(populate_existing=True))).one()
    assert (stored.secret, stored.active, stored.event_types, stored.version) == (
        issued.secret,
        True,
        ["task.cancelled"],
        2,
    )


async def test_rotation_refuses_an_overlap_beyond_a_week(db: AsyncSession, world: World, settings: Settings) -> None:
    issued = await webhook(db, world, settings)
    assert issued.endpoint.id is not None

    with pytest.raises(DomainError) as refused:
        await registration.rotate_secret(db=db, actor=CONSOLE, endpoint_id=issued.endpoint.id, overlap_hours=169)

    assert refused.value.code is ErrorCode.VALIDATION


async def test_switching_off_and_on_records_why_and_clears_a_gone_receiver(
    db: AsyncSession, world: World, settings: Settings
) -> None:
    issued = await webhook(db, world, settings)
    endpoint_id = issued.endpoint.id
    assert endpoint_id is not None

    off = await registration.set_endpoint_active(
        db=db, actor=CONSOLE, settings=settings, endpoint_id=endpoint_id, active=False
    )
    assert (off.active, off.disabled_reason) == (False, "administrator")
    # The dispatcher switches a receiver that answered 410 off as gone; enabling it is the operator's word it is back.
    off.disabled_reason = "gone"
    db.add(off)
    await db.flush()
    on = await registration.set_endpoint_active(
        db=db, actor=CONSOLE, settings=settings, endpoint_id=endpoint_id, active=True
    )

    assert (on.active, on.disabled_reason, on.version) == (True, None, 3)


async def test_a_changed_url_is_checked_again(db: AsyncSession, world: World, settings: Settings) -> None:
    issued = await webhook(db, world, settings)
    assert issued.endpoint.id is not None

    with pytest.raises(DomainError) as refused:
        await registration.update_endpoint(
            db=db,
            actor=CONSOLE,
            settings=settings,
            endpoint_id=issued.endpoint.id,
            expected_version=1,
            changes=EndpointChanges(url="http://169.254.169.254/"),
        )

    assert refused.value.code is ErrorCode.VALIDATION


async def test_an_organisation_has_a_bounded_number_of_endpoints(
    db: AsyncSession, world: World, settings: Settings
) -> None:
    for _ in range(registration.MAX_ENDPOINTS_PER_ORGANISATION):
        await registration.register_mailbox(db=db, actor=CONSOLE, organisation_slug="cpn", mailbox="team@cpn.example")

    with pytest.raises(DomainError) as refused:
        await webhook(db, world, settings)

    assert refused.value.code is ErrorCode.VALIDATION


async def _delivery(db: AsyncSession, endpoint_id: int, status: DeliveryStatus) -> int:
    event = OutboxEvent(type="task.requested", organisation_id=1, subject_ids={"task": 1})
    db.add(event)
    await db.flush()
    assert event.id is not None
    now = utc_now()
    delivery = NotificationDelivery(
        event_id=event.id,
        endpoint_id=endpoint_id,
        subject_key="task:1",
        status=status.value,
        attempts=9,
        next_attempt_at=now,
        last_status_code=500,
        last_error="http-500",
        dead_at=now if status is DeliveryStatus.DEAD else None,
    )
    db.add(delivery)
    await db.commit()
    assert delivery.id is not None
    return delivery.id


async def test_a_dead_delivery_is_redelivered_from_now_with_its_attempts_kept(
    db: AsyncSession, world: World, settings: Settings
) -> None:
    issued = await webhook(db, world, settings)
    assert issued.endpoint.id is not None
    dead_id = await _delivery(db, issued.endpoint.id, DeliveryStatus.DEAD)
    delivered_id = await _delivery(db, issued.endpoint.id, DeliveryStatus.DELIVERED)

    administrator = admin(world)  # a rollback expires the world's rows; the principal is plain values

    dead_letters = await registration.list_deliveries(db=db, actor=administrator, status=DeliveryStatus.DEAD)
    assert [d.id for d in dead_letters] == [dead_id]
    before = utc_now()
    again = await registration.redeliver(db=db, actor=administrator, delivery_id=dead_id)
    await db.commit()

    assert (again.status, again.attempts, again.dead_at, again.leased_until) == ("pending", 9, None, None)
    assert again.next_attempt_at >= before
    with pytest.raises(DomainError) as refused:
        await registration.redeliver(db=db, actor=administrator, delivery_id=delivered_id)
    assert refused.value.code is ErrorCode.INVALID_TRANSITION
    await db.rollback()
    with pytest.raises(DomainError) as missing:
        await registration.redeliver(db=db, actor=administrator, delivery_id=987654)
    assert missing.value.code is ErrorCode.NOT_FOUND


async def test_no_redelivery_to_an_endpoint_that_is_switched_off(
    db: AsyncSession, world: World, settings: Settings
) -> None:
    issued = await webhook(db, world, settings)
    endpoint_id = issued.endpoint.id
    assert endpoint_id is not None
    dead_id = await _delivery(db, endpoint_id, DeliveryStatus.DEAD)
    await registration.set_endpoint_active(
        db=db, actor=CONSOLE, settings=settings, endpoint_id=endpoint_id, active=False
    )
    await db.commit()

    with pytest.raises(DomainError) as refused:
        await registration.redeliver(db=db, actor=CONSOLE, delivery_id=dead_id)
    await db.rollback()

    assert refused.value.code is ErrorCode.INVALID_TRANSITION
    stored = (await db.exec(select(NotificationDelivery).where(col(NotificationDelivery.id) == dead_id))).one()
    assert stored.status == "dead"
