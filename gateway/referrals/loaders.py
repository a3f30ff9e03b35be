"""Per-request dataloaders: each relation is one batched service call, never a query per list item."""

from __future__ import annotations

from typing import Any

from strawberry.dataloader import DataLoader

from gateway.auth.principal import Principal
from gateway.db import AsyncSession
from gateway.graphql.loaders import RequestLoaders
from gateway.graphql.session import RequestSession
from gateway.referrals import service
from gateway.referrals.models import Case, ReferralTask, SelfReferral
from gateway.referrals.service import ProviderVictimView
from providers.profile import VictimField


class ReferralLoaders(RequestLoaders):
    """Tasks, cases, and each task's victim view, consent and contact attempts, as the caller may see them."""

    def __init__(self, session: RequestSession, actor: Principal | None) -> None:
        super().__init__(session, actor)
        # The tasks and consents behind the victim and the consent of each task, read once for both.
        self._consent_contexts: dict[int, service.TaskConsentContext | None] = {}

    async def _contexts(
        self, db: AsyncSession, actor: Principal, task_ids: list[int]
    ) -> dict[int, service.TaskConsentContext]:
        """Called from a batch, inside its turn on the request's session."""
        missing = [task_id for task_id in task_ids if task_id not in self._consent_contexts]
        if missing:
            found = await service.load_consent_contexts_for_tasks(db=db, actor=actor, task_ids=missing)
            self._consent_contexts.update({task_id: found.get(task_id) for task_id in missing})
        return {t: c for t in task_ids if (c := self._consent_contexts[t]) is not None}

    def victim_views(self, wanted: frozenset[VictimField] | None = None) -> DataLoader[int, ProviderVictimView | None]:
        """Victim views reading only the `wanted` fields (None: every field the profile allows)."""
        name = "victim_views:" + (",".join(sorted(wanted)) if wanted is not None else "*")

        async def load(*, db: AsyncSession, actor: Principal, task_ids: list[int]) -> dict[int, Any]:
            contexts = await self._contexts(db, actor, task_ids)
            return await service.load_victim_views_for_tasks(
                db=db, actor=actor, task_ids=task_ids, contexts=contexts, wanted=wanted
            )

        return self._get(name, load, "task_ids", None)

    @property
    def consent_summaries(self) -> DataLoader[int, service.TaskConsentSummary | None]:
        async def load(*, db: AsyncSession, actor: Principal, task_ids: list[int]) -> dict[int, Any]:
            contexts = await self._contexts(db, actor, task_ids)
            return await service.load_consent_summaries_for_tasks(
                db=db, actor=actor, task_ids=task_ids, contexts=contexts
            )

        return self._get("consent_summaries", load, "task_ids", None)

    @property
    def contact_attempts(self) -> DataLoader[int, list[Any]]:
        return self._get("contact_attempts", service.load_contact_attempts_for_tasks, "task_ids", [])

    @property
    def referral_tasks(self) -> DataLoader[int, list[ReferralTask]]:
        return self._get("referral_tasks", service.load_tasks_for_referrals, "referral_ids", [])

    @property
    def referral_cases(self) -> DataLoader[int, Case | None]:
        return self._get("referral_cases", service.load_cases_for_referrals, "referral_ids", None)

    @property
    def referral_intake_items(self) -> DataLoader[int, SelfReferral | None]:
        return self._get("referral_intake_items", service.load_intake_items_for_referrals, "referral_ids", None)
