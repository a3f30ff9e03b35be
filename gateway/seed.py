"""Demo data for a newcomer's gateway: idempotent, so `make run` can seed every time. Development only."""

from __future__ import annotations

from sqlmodel import select

from gateway.auth import service as auth
from gateway.auth.keys import ensure_signing_key
from gateway.auth.models import User
from gateway.auth.portal_sessions import PORTAL_CLIENT_ID, ensure_portal_client
from gateway.auth.principal import Role, Scope
from gateway.db import AsyncSession, create_engine, create_session_factory
from gateway.demo import demo_client_id, seed_demo_casework
from gateway.organisations.models import OrganisationRole
from gateway.organisations.service import demo_organisations, ensure_organisation
from gateway.settings import ConfigurationError, Settings

__all__ = [
    "DEMO_PROVIDER_CASEWORKERS",
    "DEMO_USERS",
    "demo_caseworker_email",
    "demo_caseworker_password",
    "demo_client_id",
    "demo_client_secret",
    "demo_user_email",
    "demo_user_password",
    "seed_demo",
]

# Well-known demo credentials: printed by `make run`, refused outside development.
DEMO_USERS: dict[Role, str] = {
    Role.HUB_COORDINATOR: "hub",
    Role.HUB_SUPERVISOR: "hub",
    Role.PROVIDER_CASEWORKER: "cpn",
    Role.PROVIDER_MANAGER: "cpn",
    Role.RJ_COORDINATOR: "rj-hub",
    Role.RJ_FACILITATOR: "rj-hub",
    Role.COMMISSIONER_ANALYST: "opcc",
    Role.ADMINISTRATOR: "hub",
    Role.GRANT_MANAGER: "opcc",
    Role.DATA_PROTECTION_OFFICER: "hub",
}
# A caseworker at each of the other providers, so a referral to two providers can be followed through the portal.
DEMO_PROVIDER_CASEWORKERS = ("family-action", "rape-crisis", "road-victims-trust")


def demo_caseworker_email(slug: str) -> str:
    return f"caseworker@{slug}.demo.invalid"


def demo_caseworker_password(slug: str) -> str:
    return f"demo-password-{slug}-caseworker"


ROLE_CLIENT_SCOPES: dict[OrganisationRole, tuple[Scope, ...]] = {
    OrganisationRole.REFERRER: (Scope.REFERRALS_READ, Scope.REFERRALS_WRITE),
    OrganisationRole.PROVIDER: (Scope.TASKS_READ, Scope.TASKS_WRITE, Scope.OUTCOMES_WRITE),
    OrganisationRole.COMMISSIONER: (Scope.MONITORING_READ,),
}
DEMO_WEB_REDIRECT_URI = "http://127.0.0.1:8765/callback"


def demo_client_secret(slug: str) -> str:
    return f"demo-secret-{slug}"


def demo_user_email(role: Role) -> str:
    return f"{role.value}@demo.invalid"


def demo_user_password(role: Role) -> str:
    return f"demo-password-{role.value}"


async def _ensure_client(
    db: AsyncSession, *, slug: str, client_id: str, scopes: str, secret: str, redirect_uris: list[str] | None = None
) -> bool:
    if await auth.find_client(db=db, client_id=client_id) is not None:
        return False
    await auth.add_client(
        db=db,
        organisation_slug=slug,
        name=f"{slug} demo",
        scopes=scopes,
        client_id=client_id,
        secret=secret,
        redirect_uris=redirect_uris,
    )
    return True


async def seed_demo(settings: Settings) -> list[str]:
    """Create whatever of the demo set is missing; returns lines for the console."""
    if not settings.is_development:
        raise ConfigurationError("demo data is for development only (GATEWAY_ENV=development)")
    engine = create_engine(settings.database_url)
    lines = []
    try:
        async with create_session_factory(engine)() as db, db.begin():
            key = await ensure_signing_key(db=db)
            lines.append(f"signing key {key.kid}")
            for spec in demo_organisations():
                organisation, created = await ensure_organisation(db=db, spec=spec)
                state = "created" if created else "exists "
                lines.append(f"{state} organisation {organisation.slug:<20} {', '.join(organisation.roles)}")
                scopes = {s for role in spec.roles for s in ROLE_CLIENT_SCOPES[role]}
                if spec.slug == "rj-hub":
                    scopes.add(Scope.RJ_MANAGE)
                await _ensure_client(
                    db,
                    slug=spec.slug,
                    client_id=demo_client_id(spec.slug),
                    scopes=" ".join(sorted(scopes)),
                    secret=demo_client_secret(spec.slug),
                )
            every_scope = " ".join(s.value for s in Scope)
            await _ensure_client(
                db,
                slug="hub",
                client_id="gateway-web-demo",
                scopes=every_scope,
                secret=demo_client_secret("gateway-web"),
                redirect_uris=[DEMO_WEB_REDIRECT_URI],
            )
            await ensure_portal_client(
                db=db, organisation_slug="hub", issuer_url=settings.issuer_url, session_secret=settings.session_secret
            )
            lines.append(f"portal client {PORTAL_CLIENT_ID} ready")
            for role, slug in DEMO_USERS.items():
                exists = (await db.exec(select(User).where(User.email == demo_user_email(role)))).first()
                if exists is None:
                    await auth.add_user(
                        db=db,
                        organisation_slug=slug,
                        email=demo_user_email(role),
                        roles=[role.value],
                        password=demo_user_password(role),
                    )
            for slug in DEMO_PROVIDER_CASEWORKERS:
                email = demo_caseworker_email(slug)
                if (await db.exec(select(User).where(User.email == email))).first() is None:
                    await auth.add_user(
                        db=db,
                        organisation_slug=slug,
                        email=email,
                        roles=[Role.PROVIDER_CASEWORKER.value],
                        password=demo_caseworker_password(slug),
                    )
            lines += await seed_demo_casework(
                db,
                coordinator_email=demo_user_email(Role.HUB_COORDINATOR),
                rj_coordinator_email=demo_user_email(Role.RJ_COORDINATOR),
                caseworker_email=demo_user_email(Role.PROVIDER_CASEWORKER),
            )
    finally:
        await engine.dispose()
    return lines
