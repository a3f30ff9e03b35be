"""The providers the Commissioner monitors: provider organisations with a registered profile."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from gateway.db import AsyncSession
from gateway.organisations.models import Organisation, OrganisationRole
from providers.registry import all_profiles


@dataclass(frozen=True, slots=True)
class ProviderRef:
    organisation_id: int
    slug: str
    name: str
    first_contact_target_hours: int
    services: tuple[str, ...]


async def list_monitored_providers(*, db: AsyncSession) -> list[ProviderRef]:
    """Every provider organisation with a registered profile, by slug."""
    profiles = all_profiles()
    rows = await db.exec(
        select(Organisation).where(col(Organisation.slug).in_(list(profiles))).order_by(col(Organisation.slug))
    )
    return [
        ProviderRef(
            organisation_id=o.id,
            slug=o.slug,
            name=profiles[o.slug].display_name,
            first_contact_target_hours=profiles[o.slug].first_contact_target_hours,
            services=profiles[o.slug].services,
        )
        for o in rows.all()
        if o.id is not None and OrganisationRole.PROVIDER.value in o.roles
    ]
