"""The Hub co-ordinator's pages: the queues, referrals made and followed, triage, and the safeguarding override."""

from __future__ import annotations

from gateway.auth.principal import Scope
from gateway.web.hub import create, home, intake, referral
from gateway.web.hub.common import label, provider_name
from gateway.web.portal import Portal

READ = (Scope.REFERRALS_READ,)
# Every Hub page that changes something needs the write scope; reading alone would show forms that cannot work.
WRITE = (Scope.REFERRALS_WRITE,)
BOTH = ("GET", "POST")


def add_hub_pages(portal: Portal) -> None:
    # Lists of codes and slugs are shown through these in the templates (`map("code_label")`).
    portal.environment.filters["code_label"] = label
    portal.environment.filters["provider_name"] = provider_name
    portal.section("/portal/hub", "Home", Scope.REFERRALS_READ)
    portal.section("/portal/referrals", "Referrals", Scope.REFERRALS_READ)
    portal.page("/hub", home.hub_home, scopes=READ)
    portal.page("/referrals", home.referral_list, scopes=READ)
    # Before /referrals/{id}, which would otherwise take "new" for an id.
    portal.page("/referrals/new", create.start, scopes=WRITE)
    portal.page("/referrals/new/check", create.check, methods=BOTH, scopes=WRITE)
    portal.page("/referrals/new/consent/{slug}", create.consent, methods=BOTH, scopes=WRITE)
    portal.page("/referrals/new/{step}", create.step, methods=BOTH, scopes=WRITE)
    portal.page("/referrals/{id}", referral.referral_page, scopes=READ)
    portal.page("/referrals/{id}/tasks/{task_id}/send", referral.send_draft, methods=("POST",), scopes=WRITE)
    portal.page("/referrals/{id}/tasks/{task_id}/cancel", referral.cancel, methods=BOTH, scopes=WRITE)
    portal.page("/referrals/{id}/tasks/{task_id}/reroute", referral.reroute, methods=BOTH, scopes=WRITE)
    portal.page(
        "/referrals/{id}/tasks/{task_id}/override", referral.override, methods=BOTH, scopes=(Scope.CONSENT_OVERRIDE,)
    )
    portal.page("/referrals/{id}/consents/new", referral.consent_providers, scopes=WRITE)
    portal.page("/referrals/{id}/consents/new/{slug}", referral.new_consent, methods=BOTH, scopes=WRITE)
    portal.page("/referrals/{id}/consents/{consent_id}/withdraw", referral.withdraw, methods=BOTH, scopes=WRITE)
    portal.page("/intake/{id}", intake.intake_page, scopes=READ)
    portal.page("/intake/{id}/triage", intake.start, scopes=WRITE)
    portal.page("/intake/{id}/close", intake.close, methods=BOTH, scopes=WRITE)
    portal.page("/intake/{id}/check", intake.check, methods=BOTH, scopes=WRITE)
    portal.page("/intake/{id}/consent/{slug}", intake.consent, methods=BOTH, scopes=WRITE)
    portal.page("/intake/{id}/{step}", intake.step, methods=BOTH, scopes=WRITE)


__all__ = ["add_hub_pages"]
