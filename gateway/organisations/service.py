"""Rules for organisations: which exist, and the demo set built from the provider registry."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from gateway.db import AsyncSession
from gateway.organisations.models import Organisation, OrganisationRole
from providers.registry import all_profiles


@dataclass(frozen=True, slots=True)
class OrganisationSpec:
    slug: str
    name: str
    roles: tuple[OrganisationRole, ...]


HUB = OrganisationSpec("hub", "Victim and Witness Hub", (OrganisationRole.REFERRER,))
OPCC = OrganisationSpec("opcc", "Office of the Police and Crime Commissioner", (OrganisationRole.COMMISSIONER,))


def demo_organisations() -> list[OrganisationSpec]:
    """The Hub, the OPCC and one organisation for each provider in the registry."""
    providers = [
        OrganisationSpec(p.slug, p.display_name, (OrganisationRole.PROVIDER,)) for p in all_profiles().values()
    ]
    return [HUB, OPCC, *providers]


async def ensure_organisation(*, db: AsyncSession, spec: OrganisationSpec) -> tuple[Organisation, bool]:
    """Create the organisation unless its slug exists; existing rows are left as they are."""
    existing = (await db.exec(select(Organisation).where(Organisation.slug == spec.slug))).first()
    if existing is not None:
        return existing, False
    organisation = Organisation(slug=spec.slug, name=spec.name, roles=[r.value for r in spec.roles])
    db.add(organisation)
    await db.flush()
    return organisation, True


async def list_organisations(*, db: AsyncSession) -> list[Organisation]:
    """Every organisation, ordered by slug."""
    return list((await db.exec(select(Organisation).order_by(Organisation.slug))).all())
