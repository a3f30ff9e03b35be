"""`make run`'s promise: every demo person the banner prints can sign in to the portal and lands on real work."""

from __future__ import annotations

from gateway.app import create_app
from gateway.auth.principal import Role
from gateway.seed import (
    DEMO_PROVIDER_CASEWORKERS,
    DEMO_USERS,
    demo_caseworker_email,
    demo_caseworker_password,
    demo_user_email,
    demo_user_password,
)
from gateway.settings import DEVELOPMENT_ISSUER, Settings
from gateway.welcome import welcome_text
from tests.support.portal import PortalBrowser, StaffMember
from tests.test_cli import gateway


async def test_the_banner_prints_the_portal_and_every_demo_person_it_lists_can_sign_in(database_url: str) -> None:
    seeded = gateway("seed", "demo", database_url=database_url)
    assert seeded.returncode == 0, seeded.stderr
    settings = Settings(database_url=database_url)
    banner = await welcome_text(settings, base_url=DEVELOPMENT_ISSUER)
    assert f"{DEVELOPMENT_ISSUER}/portal/" in banner

    people = [
        StaffMember(slug, (role.value,), demo_user_email(role), demo_user_password(role))
        for role, slug in DEMO_USERS.items()
    ]
    people += [
        StaffMember(
            slug, (Role.PROVIDER_CASEWORKER.value,), demo_caseworker_email(slug), demo_caseworker_password(slug)
        )
        for slug in DEMO_PROVIDER_CASEWORKERS
    ]
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        for person in people:
            assert person.email in banner and person.password in banner
            browser = PortalBrowser(app, base_url=DEVELOPMENT_ISSUER)
            try:
                landed = await browser.sign_in(person)
                assert landed.url.path.startswith("/portal/"), person.email
                assert f"Signed in as {person.email}" in landed.text
            finally:
                await browser.close()
