"""The data-protection officer's page in the staff portal: the audit trail of one victim or one organisation.

The same service as the GraphQL `auditTrail` field, with the same rule: only the officer's scope reaches it. The
filters travel in the query string (a record id, an organisation, dates and categories: never personal data), so
a page of the trail can be bookmarked and its next page linked.
"""

from __future__ import annotations

from datetime import date, datetime, time
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.responses import Response

from gateway.audit.models import AuditCategory, AuditEntry
from gateway.auth.principal import Scope
from gateway.data_protection.service import audit_trail_page
from gateway.db import AsyncSession
from gateway.errors import DomainError, ErrorCode
from gateway.graphql.pagination import decode_cursor, next_cursor
from gateway.organisations.models import Organisation
from gateway.organisations.service import list_organisations
from gateway.web.forms import FormErrors
from gateway.web.portal import Portal
from gateway.web.visit import Visit

PATH = "/portal/audit-trail"
PAGE_SIZE = 50
MAX_ID = 2**31 - 1
UK = ZoneInfo("Europe/London")
CATEGORY_LABELS = {
    AuditCategory.COLLECTION: "Collection",
    AuditCategory.ALTERATION: "Alteration",
    AuditCategory.CONSULTATION: "Consultation",
    AuditCategory.DISCLOSURE: "Disclosure",
    AuditCategory.COMBINATION: "Combination",
    AuditCategory.ERASURE: "Erasure",
}


def _parameter(visit: Visit, name: str, limit: int = 40) -> str:
    return visit.request.query_params.get(name, "")[: limit + 1].strip()


def _record_id(errors: FormErrors, text: str) -> int | None:
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        errors.add("victim", "Enter a victim's record number, in digits")
        return None
    return int(text)


def _uk_midnight(errors: FormErrors, field_id: str, text: str, what: str) -> datetime | None:
    """The start of a UK local date, as a moment."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        errors.add(field_id, f"Enter the {what} as a date, for example 2026-11-30")
        return None
    return datetime.combine(day, time(0), tzinfo=UK)


async def audit_trail(visit: Visit) -> Response:
    """The trail, filtered as asked; without a victim or an organisation, only the filters."""
    errors = FormErrors()
    victim_text = _parameter(visit, "victim", 12)
    organisation_slug = _parameter(visit, "organisation", 64)
    since_text, until_text = _parameter(visit, "since", 10), _parameter(visit, "until", 10)
    wanted = [c for c in visit.request.query_params.getlist("category")[:10] if c in AuditCategory._value2member_map_]
    victim_id = _record_id(errors, victim_text)
    since = _uk_midnight(errors, "since", since_text, "start date")
    until = _uk_midnight(errors, "until", until_text, "end date")
    organisations: list[Organisation] = await visit.read(lambda db: list_organisations(db=db))
    by_slug = {o.slug: o for o in organisations}
    if organisation_slug and organisation_slug not in by_slug:
        errors.add("organisation", "Choose an organisation from the list")
    if victim_text and organisation_slug:
        errors.add("victim", "Give a victim's record number or an organisation, not both")
    after_id = None
    try:
        after_id = decode_cursor(_parameter(visit, "after", 80) or None)
    except DomainError:
        errors.add("victim", "That page of the trail is not one this page linked to; start again")
    asked = bool(victim_text or organisation_slug)
    rows: list[AuditEntry] = []
    more: str | None = None
    if asked and not errors:
        organisation = by_slug.get(organisation_slug)

        async def read(db: AsyncSession) -> list[AuditEntry]:
            return await audit_trail_page(
                db=db,
                actor=visit.principal,
                victim_id=victim_id,
                organisation_id=organisation.id if organisation is not None else None,
                since=since,
                until=until,
                categories=[AuditCategory(c) for c in wanted],
                after_id=after_id,
                first=PAGE_SIZE,
            )

        try:
            rows = await visit.run(read)
        except DomainError as refusal:
            missing = refusal.code is ErrorCode.NOT_FOUND
            errors.add(
                "victim" if victim_text else "organisation",
                "There is no such record in your organisation's care" if missing else refusal.message,
            )
        cursor = next_cursor(rows, PAGE_SIZE)
        if cursor is not None:
            kept = [(k, v) for k, v in visit.request.query_params.multi_items() if k != "after"]
            more = f"{PATH}?{urlencode([*kept, ('after', cursor)])}"
    return visit.render(
        "dpo/audit_trail.html",
        status_code=400 if errors else 200,
        title="Audit trail",
        errors=errors,
        asked=asked and not errors,
        rows=rows,
        more=more,
        organisations=organisations,
        names={o.id: o.name for o in organisations},
        values={
            "victim": victim_text,
            "organisation": organisation_slug,
            "since": since_text,
            "until": until_text,
            "categories": wanted,
        },
        category_labels={c.value: label for c, label in CATEGORY_LABELS.items()},
    )


def add_dpo_pages(portal: Portal) -> None:
    portal.section(PATH, "Audit trail", Scope.DATA_PROTECTION)
    portal.page("/audit-trail", audit_trail, scopes=(Scope.DATA_PROTECTION,))
