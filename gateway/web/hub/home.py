"""The Hub's home (its three queues) and the list of its referrals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from gateway.referrals import service
from gateway.referrals.models import Referral, ReferralTask, SelfReferral
from gateway.referrals.service import OverdueTask
from gateway.web.hub.common import PAGE_SIZE, STATUS_TAG_CLASSES, cursor, label, provider_name
from gateway.web.visit import Visit


@dataclass(frozen=True)
class Queues:
    intake: list[SelfReferral]
    overdue: list[OverdueTask]
    reroute: list[ReferralTask]


async def hub_home(visit: Visit) -> Response:
    """Where a co-ordinator's day starts: who asked for help, what is late, and what came back."""

    async def read(db: Any) -> Queues:
        actor = visit.principal
        return Queues(
            intake=await service.list_intake_queue(db=db, actor=actor, limit=PAGE_SIZE),
            overdue=await service.list_overdue_tasks(db=db, actor=actor, limit=PAGE_SIZE),
            reroute=await service.list_tasks_to_reroute(db=db, actor=actor, limit=PAGE_SIZE),
        )

    queues = await visit.read(read)
    return visit.render(
        "hub/home.html",
        title="Hub home",
        queues=queues,
        label=label,
        provider_name=provider_name,
        tag_classes=STATUS_TAG_CLASSES,
    )


async def referral_list(visit: Visit) -> Response:
    after = cursor(visit.request.query_params.get("after"))

    async def read(db: Any) -> tuple[list[Referral], dict[int, list[ReferralTask]]]:
        referrals = await service.list_referrals(db=db, actor=visit.principal, after_id=after, limit=PAGE_SIZE)
        tasks = await service.load_tasks_for_referrals(
            db=db, actor=visit.principal, referral_ids=[r.id for r in referrals if r.id is not None]
        )
        return referrals, tasks

    referrals, tasks = await visit.read(read)
    more = len(referrals) == PAGE_SIZE
    return visit.render(
        "hub/referrals.html",
        title="Referrals",
        referrals=referrals,
        tasks=tasks,
        next_after=referrals[-1].id if more and referrals else None,
        first_page=after is None,
        label=label,
        provider_name=provider_name,
        tag_classes=STATUS_TAG_CLASSES,
    )
