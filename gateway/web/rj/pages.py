"""The RJ hub's pages: the co-ordinator's home, a case, the diary, facilitators, a facilitator's own work, and
finding a case by its reference. Every read and change is the service call the GraphQL API makes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.responses import Response

from gateway.auth.principal import Scope
from gateway.clock import as_utc, utc_now
from gateway.errors import DomainError, ErrorCode
from gateway.restorative_justice import service as rj
from gateway.restorative_justice.models import AccreditationLevel, HomeAgency
from gateway.web.forms import FormErrors
from gateway.web.rj.actions.catalogue import ACTIONS
from gateway.web.rj.actions.context import load_context
from gateway.web.rj.common import (
    AGENCIES,
    CLOSURES,
    CONFERENCE_STATUSES,
    CONSENT_METHODS,
    INTERVENTIONS,
    LEVELS,
    RISK_LEVELS,
    ROLES,
    SATISFACTION,
    STAGES,
    choice,
    chosen_id,
    fresh_key,
    idempotency_key,
    items,
    party_label,
    read_date,
    record_id,
)
from gateway.web.templating import LONDON
from gateway.web.visit import NotFoundPage, Visit

EXPIRY_WARNING_DAYS = 60
WORDS: dict[str, Any] = {
    "stages": STAGES,
    "roles": ROLES,
    "risk_levels": RISK_LEVELS,
    "agencies": AGENCIES,
    "levels": LEVELS,
    "consent_methods": CONSENT_METHODS,
    "interventions": INTERVENTIONS,
    "satisfaction": SATISFACTION,
    "closures": CLOSURES,
    "conference_statuses": CONFERENCE_STATUSES,
}


def _week_start(visit: Visit) -> date:
    """The Monday of the week asked for (?week=YYYY-MM-DD), or of this week in the UK."""
    text = visit.request.query_params.get("week", "")[:10]
    try:
        day = date.fromisoformat(text) if text else rj.uk_today()
    except ValueError:
        day = rj.uk_today()
    return day - timedelta(days=day.weekday())


def _uk_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LONDON).astimezone(UTC)


# -- home ----------------------------------------------------------------------------------------------------


async def rj_home(visit: Visit) -> Response:
    """The co-ordinator's home; a facilitator's is their own work."""
    if not visit.has(Scope.RJ_MANAGE):
        return visit.redirect("/portal/rj/mine")
    overview = await visit.read(lambda db: rj.rj_overview(db=db, actor=visit.principal))
    return visit.render(
        "rj/home.html",
        title="Restorative justice cases",
        overview=overview,
        overdue=[c for c in overview.open_cases if c.follow_up_overdue],
        awaiting_supervisor=[c for c in overview.open_cases if c.awaiting_supervisor],
        idempotency_key=fresh_key(),
        **WORDS,
    )


async def open_from_task(visit: Visit) -> Response:
    """The co-ordinator opens a case from an accepted Hub task (POST from the home page)."""
    task_id = chosen_id(visit.field("task", limit=12))
    if task_id is None:
        raise NotFoundPage()
    sensitive = visit.field("sensitive", limit=5) == "yes"
    key = idempotency_key(visit)
    try:
        case = await visit.run(
            lambda db: rj.create_case_from_task(
                db=db, actor=visit.principal, task_id=task_id, marked_sensitive=sensitive, idempotency_key=key
            )
        )
    except DomainError as refusal:
        if refusal.code in (ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN):
            raise NotFoundPage() from refusal
        await visit.flash(f"The case could not be opened: {refusal.message}")
        return visit.redirect("/portal/rj")
    await visit.flash(f"Case {case.reference} opened")
    return visit.redirect(f"/portal/rj/cases/{case.id}")


# -- a case --------------------------------------------------------------------------------------------------


def _timeline(detail: rj.CaseDetail) -> list[dict[str, Any]]:
    """The case's stage history as an MoJ timeline, newest first, from its own timestamps."""
    case = detail.case
    entries: list[tuple[datetime, str, str]] = []

    def add(moment: datetime | None, title: str, text: str = "") -> None:
        if moment is not None:
            entries.append((as_utc(moment), title, text))

    add(case.created_at, "Referral received", f"Opened by {case.created_by}")
    add(case.initial_contact_at, "Initial contact")
    add(case.assessed_at, "Assessed", "Suitable" if case.assessed_suitable else "Not suitable")
    add(case.approved_at, "Assessment approved by a case supervisor")
    for meeting in detail.meetings:
        add(meeting.held_at, "Preparation meeting")
    for intervention in detail.interventions:
        add(intervention.delivered_at, "Intervention", INTERVENTIONS.get(intervention.kind, intervention.kind))
    add(case.agreement_recorded_at, "Outcome agreement recorded")
    add(case.agreement_completed_at, "Every agreed action done")
    add(case.follow_up_at, "Follow-up recorded")
    add(case.halted_at, "Halted: a party withdrew")
    add(case.closed_at, "Closed", CLOSURES.get(case.closure_reason or "", ""))
    entries.sort(key=lambda entry: entry[0], reverse=True)
    return [{"at": at, "title": title, "text": text} for at, title, text in entries]


async def case_page(visit: Visit) -> Response:
    case_id = record_id(visit, "case_id")
    context = await visit.read(lambda db: load_context(db, visit.principal, case_id))
    detail = context.detail
    names = {f.id: f.display_name for f in context.facilitators}
    parties = {p.id: party_label(p) for p in detail.parties}
    available = [a for a in ACTIONS.values() if any(visit.has(s) for s in a.scopes)]
    return visit.render(
        "rj/case.html",
        title=f"Case {detail.case.reference}",
        detail=detail,
        case=detail.case,
        facilitator_names=names,
        party_names=parties,
        timeline=_timeline(detail),
        actions=available,
        now=utc_now(),
        **WORDS,
    )


# -- the diary -----------------------------------------------------------------------------------------------


async def diary_page(visit: Visit) -> Response:
    """Conferences by week, for everyone or one facilitator, grouped by day, by facilitator and by venue."""
    monday = _week_start(visit)
    facilitators = await visit.read(lambda db: rj.list_facilitators(db=db, actor=visit.principal))
    wanted = chosen_id(visit.request.query_params.get("facilitator", "")[:12])
    if wanted is not None and all(f.id != wanted for f in facilitators):
        wanted = None
    entries = await visit.read(
        lambda db: rj.list_diary(
            db=db,
            actor=visit.principal,
            starts_at=_uk_midnight(monday),
            ends_at=_uk_midnight(monday + timedelta(days=7)),
            facilitator_id=wanted,
        )
    )
    return _render_diary(visit, "rj/diary.html", "Diary", monday, entries, facilitators, wanted)


def _render_diary(
    visit: Visit,
    template: str,
    title: str,
    monday: date,
    entries: list[rj.DiaryEntry],
    facilitators: list[Any],
    wanted: int | None,
    **context: Any,
) -> Response:
    names = {f.id: f.display_name for f in facilitators}
    days = [monday + timedelta(days=n) for n in range(7)]
    by_day = {
        day: [e for e in entries if as_utc(e.conference.starts_at).astimezone(LONDON).date() == day] for day in days
    }
    by_facilitator: dict[str, list[rj.DiaryEntry]] = {}
    by_venue: dict[str, list[rj.DiaryEntry]] = {}
    for entry in entries:
        for facilitator_id in entry.facilitator_ids:
            by_facilitator.setdefault(names.get(facilitator_id, f"Facilitator {facilitator_id}"), []).append(entry)
        venue = "Video call" if entry.conference.video_call else (entry.conference.venue or "")
        by_venue.setdefault(venue, []).append(entry)
    return visit.render(
        template,
        title=title,
        monday=monday,
        previous_week=(monday - timedelta(days=7)).isoformat(),
        next_week=(monday + timedelta(days=7)).isoformat(),
        by_day=by_day,
        by_facilitator=dict(sorted(by_facilitator.items())),
        by_venue=dict(sorted(by_venue.items())),
        facilitators=facilitators,
        facilitator_names=names,
        wanted=wanted,
        entries=entries,
        **WORDS,
        **context,
    )


# -- facilitators --------------------------------------------------------------------------------------------


def _accreditation(visit: Visit, errors: FormErrors) -> tuple[dict[str, Any], dict[str, Any]]:
    level = choice(visit, errors, "level", LEVELS, "Select the accreditation level")
    values, expires = read_date(visit, errors, "expires", "accreditation expiry")
    return {"level": level, "expires": values}, {"level": level, "expires": expires}


async def facilitators_page(visit: Visit) -> Response:
    """The hub's facilitators by name, with expiry coming within 60 days flagged; registering a new one."""
    errors = FormErrors()
    values: dict[str, Any] = {}
    status = 200
    if visit.request.method == "POST":
        candidates = await visit.read(lambda db: rj.list_facilitator_candidates(db=db, actor=visit.principal))
        user = visit.field("user", limit=12)
        if user not in {str(c.user_id) for c in candidates}:
            errors.add("user", "Select the person to register")
        name = visit.field("name", limit=120)
        if not name:
            errors.add("name", "Enter the facilitator's name")
        elif len(name) > 120:
            errors.add("name", "The name must be 120 characters or fewer")
        agency = choice(visit, errors, "agency", AGENCIES, "Select the facilitator's home agency")
        accreditation, parsed = _accreditation(visit, errors)
        values = {"user": user, "name": name, "agency": agency, **accreditation}
        key = idempotency_key(visit)
        if not errors:
            user_id = chosen_id(user)
            assert user_id is not None and parsed["expires"] is not None
            try:
                await visit.run(
                    lambda db: rj.register_facilitator(
                        db=db,
                        actor=visit.principal,
                        user_id=user_id,
                        display_name=name,
                        home_agency=HomeAgency(agency),
                        accreditation_level=AccreditationLevel(parsed["level"]),
                        accreditation_expires_on=parsed["expires"],
                        idempotency_key=key,
                    )
                )
            except DomainError as refusal:
                errors.add("user", refusal.message)
            else:
                await visit.flash("Facilitator registered")
                return visit.redirect("/portal/rj/facilitators")
        status = 400
    facilitators = await visit.read(lambda db: rj.list_facilitators(db=db, actor=visit.principal))
    candidates = await visit.read(lambda db: rj.list_facilitator_candidates(db=db, actor=visit.principal))
    today = rj.uk_today()
    return visit.render(
        "rj/facilitators.html",
        status_code=status,
        title="Facilitators",
        facilitators=facilitators,
        candidates=[
            {"value": str(c.user_id), "text": c.email, "selected": str(c.user_id) == values.get("user")}
            for c in candidates
        ],
        expiring={
            f.id for f in facilitators if f.accreditation_expires_on <= today + timedelta(days=EXPIRY_WARNING_DAYS)
        },
        expired={f.id for f in facilitators if f.accreditation_expires_on < today},
        agency_items=items(AGENCIES, values.get("agency")),
        level_items=items(LEVELS, values.get("level")),
        values=values,
        errors=errors,
        idempotency_key=fresh_key(),
        **WORDS,
    )


async def renew_page(visit: Visit) -> Response:
    facilitator_id = record_id(visit, "facilitator_id")
    facilitators = await visit.read(lambda db: rj.list_facilitators(db=db, actor=visit.principal))
    facilitator = next((f for f in facilitators if f.id == facilitator_id), None)
    if facilitator is None:
        raise NotFoundPage()
    errors = FormErrors()
    values: dict[str, Any] = {"level": facilitator.accreditation_level}
    if visit.request.method == "POST":
        values, parsed = _accreditation(visit, errors)
        key = idempotency_key(visit)
        if not errors:
            try:
                await visit.run(
                    lambda db: rj.renew_accreditation(
                        db=db,
                        actor=visit.principal,
                        facilitator_id=facilitator_id,
                        level=AccreditationLevel(parsed["level"]),
                        expires_on=parsed["expires"],
                        idempotency_key=key,
                    )
                )
            except DomainError as refusal:
                errors.add("level", refusal.message)
            else:
                await visit.flash("Accreditation renewed")
                return visit.redirect("/portal/rj/facilitators")
    return visit.render(
        "rj/renew.html",
        status_code=400 if errors else 200,
        title="Renew accreditation",
        facilitator=facilitator,
        level_items=items(LEVELS, values.get("level")),
        values=values,
        errors=errors,
        idempotency_key=fresh_key(),
        **WORDS,
    )


# -- a facilitator's own work --------------------------------------------------------------------------------


async def mine_page(visit: Visit) -> Response:
    """A facilitator's assigned cases and their own diary, and their calendar-feed link."""
    feed_url: str | None = None
    try:
        me = await visit.run(lambda db: rj.own_facilitator(db, visit.principal))
    except DomainError:
        # Signed in with the facilitator role but not registered yet: nothing is theirs to show.
        return visit.render("rj/unregistered.html", title="Your restorative justice work")
    if visit.request.method == "POST":
        issued = await visit.run(lambda db: rj.rotate_feed_token(db=db, actor=visit.principal))
        # Shown once, on this page's answer, never in a URL of the portal nor in the session.
        feed_url = f"{visit.portal.settings.issuer_url}/rj/calendar.ics?token={issued.token}"
    caseload = await visit.read(lambda db: rj.list_caseload(db=db, actor=visit.principal))
    monday = _week_start(visit)
    entries = await visit.read(
        lambda db: rj.list_diary(
            db=db,
            actor=visit.principal,
            starts_at=_uk_midnight(monday),
            ends_at=_uk_midnight(monday + timedelta(days=28)),
            mine=True,
        )
    )
    return visit.render(
        "rj/mine.html",
        title="Your restorative justice work",
        caseload=caseload,
        entries=entries,
        me=me,
        feed_url=feed_url,
        **WORDS,
    )


# -- find a case ---------------------------------------------------------------------------------------------


async def find_page(visit: Visit) -> Response:
    reference = visit.request.query_params.get("reference", "")[:41].strip()
    errors = FormErrors()
    if reference:
        try:
            case = await visit.run(
                lambda db: rj.find_case_by_reference(db=db, actor=visit.principal, reference=reference)
            )
        except DomainError:
            errors.add("reference", "No case you can see has that reference")
        else:
            return visit.redirect(f"/portal/rj/cases/{case.id}")
    return visit.render(
        "rj/find.html",
        status_code=404 if errors else 200,
        title="Find a case",
        errors=errors,
        reference=reference if len(reference) <= 40 else "",
    )
