"""The questions of a referral, one page each: how each answer is read and checked, and what it becomes.

A draft keeps every answer as the text the co-ordinator typed or chose (so a page shows it again as it was), and
the service's input values are built from it only when the referral is sent. Two flows ask these questions: the
new referral (the person typed in) and the triage of a self-referral (the person already known).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from gateway.clock import utc_now
from gateway.consent.models import ConsentMethod
from gateway.consent.service import ConsentInput
from gateway.directory.service import list_provider_profiles
from gateway.referrals.models import ArrivalRoute, DomesticAbuseRisk
from gateway.referrals.service import CaseInput, eligibility_problems
from gateway.victims.models import ConsentGiver
from gateway.victims.service import (
    ADULT_AGE,
    OLDEST_PLAUSIBLE_AGE,
    GuardianInput,
    SafeContact,
    VictimInput,
    age_on,
)
from gateway.web.forms import FormErrors, optional, required
from gateway.web.hub.common import label, parts_date, start_of_local_day, typed_date
from gateway.web.templating import LONDON
from gateway.web.visit import Visit
from providers.profile import CrimeCategory, Need, ProviderProfile, VictimField

Answers = dict[str, Any]
YES_NO = ("yes", "no")

# Column sizes where they are tighter than the API's bounds, so a long answer is refused here, not by the database.
NAME_MAX = 100
PHONE_MAX = 32
EMAIL_MAX = 254
POSTCODE_MAX = 10
ADDRESS_MAX = 500
LANGUAGE_MAX = 60
RELATIONSHIP_MAX = 60
SAFE_TIMES_MAX = 200
CRIME_REFERENCE_MAX = 40
NOTE_MAX = 2000

PRIORITY_FLAGS = (
    ("priority_most_serious_crime", "Victim of the most serious crime"),
    ("priority_persistently_targeted", "Persistently targeted"),
    ("priority_vulnerable_or_intimidated", "Vulnerable or intimidated"),
)
SAFE_FLAGS = (
    ("voicemail_safe", "It is safe to leave a voicemail"),
    ("letters_safe", "It is safe to send letters"),
    ("perpetrator_shares_address", "The perpetrator lives at the victim's address"),
)


def _too_long(what: str, limit: int) -> str:
    return f"{what} must be {limit} characters or fewer"


def _text(visit: Visit, errors: FormErrors, name: str, what: str, limit: int, *, needed: str | None = None) -> str:
    value = visit.field(name, limit=limit)
    if needed is not None:
        return required(errors, name, value, needed, limit=limit, too_long=_too_long(what, limit))
    optional(errors, name, value, limit=limit, too_long=_too_long(what, limit))
    return value


def _choice(visit: Visit, errors: FormErrors, name: str, allowed: tuple[str, ...], needed: str) -> str:
    value = visit.field(name, limit=64)
    if value not in allowed:
        errors.add(name, needed)
        return ""
    return value


def _choices(visit: Visit, name: str, allowed: tuple[str, ...]) -> list[str]:
    chosen = set(visit.fields(name, limit=64))
    return [value for value in allowed if value in chosen]


def _date_parts(visit: Visit, name: str) -> dict[str, str]:
    return {part: visit.field(f"{name}-{part}", limit=4) for part in ("day", "month", "year")}


def today() -> date:
    """Today at the Hub: dates people type are UK dates."""
    return utc_now().astimezone(LONDON).date()


# -- what the answers so far say -----------------------------------------------------------------------------


def date_of_birth(draft: Answers) -> date | None:
    return parts_date(draft.get("dob"))


def victim_age(draft: Answers) -> int | None:
    return age_on(date_of_birth(draft), today())


def needs_guardian(draft: Answers) -> bool:
    age = victim_age(draft)
    return age is not None and age < ADULT_AGE


def chosen_needs(draft: Answers) -> list[str]:
    return list((draft.get("needs") or {}).get("needs", []))


def crime_category(draft: Answers) -> str:
    return str((draft.get("case") or {}).get("crime_category", ""))


@dataclass(frozen=True)
class ProviderChoice:
    profile: ProviderProfile
    problems: tuple[str, ...]

    @property
    def eligible(self) -> bool:
        return not self.problems


def provider_choices(draft: Answers) -> list[ProviderChoice]:
    """Every provider, with the eligibility rules (the API's own) this victim and case do not meet."""
    age, crime, needs = victim_age(draft), crime_category(draft), chosen_needs(draft)
    return [
        ProviderChoice(p, tuple(eligibility_problems(p, age=age, crime_category=crime, needs=needs)))
        for p in list_provider_profiles()
    ]


def eligible_slugs(draft: Answers) -> set[str]:
    return {choice.profile.slug for choice in provider_choices(draft) if choice.eligible}


# -- reading each page's answers ------------------------------------------------------------------------------


def read_victim(visit: Visit, draft: Answers, errors: FormErrors) -> Answers:
    answers: Answers = {
        "given_name": _text(
            visit, errors, "given_name", "First name", NAME_MAX, needed="Enter the victim's first name"
        ),
        "family_name": _text(
            visit, errors, "family_name", "Last name", NAME_MAX, needed="Enter the victim's last name"
        ),
        "dob": _date_parts(visit, "dob"),
    }
    born = typed_date(errors, "dob", answers["dob"], what="the victim's date of birth", required=True, today=today())
    if born is not None and (age_on(born, today()) or 0) > OLDEST_PLAUSIBLE_AGE:
        errors.add("dob-day", "The victim's date of birth must be a real date")
    return answers


def read_date_of_birth(visit: Visit, draft: Answers, errors: FormErrors) -> Answers:
    answers = {"dob": _date_parts(visit, "dob")}
    born = typed_date(errors, "dob", answers["dob"], what="the victim's date of birth", required=False, today=today())
    if born is not None and (age_on(born, today()) or 0) > OLDEST_PLAUSIBLE_AGE:
        errors.add("dob-day", "The victim's date of birth must be a real date")
    return answers


def read_contact(visit: Visit, draft: Answers, errors: FormErrors) -> Answers:
    answers = {
        "address": _text(visit, errors, "address", "Address", ADDRESS_MAX),
        "postcode": _text(visit, errors, "postcode", "Postcode", POSTCODE_MAX),
        "phone": _text(visit, errors, "phone", "Phone number", PHONE_MAX),
        "email": _text(visit, errors, "email", "Email address", EMAIL_MAX),
        "language": _text(visit, errors, "language", "Language", LANGUAGE_MAX),
        "interpreter_needed": "yes" if "yes" in visit.fields("interpreter_needed") else "no",
    }
    if answers["email"] and "@" not in answers["email"] and "email" not in errors:
        errors.add("email", "Enter an email address in the correct format, like name@example.com")
    if not any(answers[k] for k in ("address", "phone", "email")) and not errors:
        errors.add("address", "Enter at least one way to contact the victim: an address, a phone number or an email")
    return answers


def read_guardian(visit: Visit, draft: Answers, errors: FormErrors) -> Answers:
    answers = {
        "name": _text(visit, errors, "guardian_name", "Name", NAME_MAX, needed="Enter the parent or guardian's name"),
        "relationship": _text(
            visit,
            errors,
            "guardian_relationship",
            "Relationship",
            RELATIONSHIP_MAX,
            needed="Enter their relationship to the victim",
        ),
        "phone": _text(visit, errors, "guardian_phone", "Phone number", PHONE_MAX),
        "email": _text(visit, errors, "guardian_email", "Email address", EMAIL_MAX),
    }
    if answers["email"] and "@" not in answers["email"] and "guardian_email" not in errors:
        errors.add("guardian_email", "Enter an email address in the correct format, like name@example.com")
    if not answers["phone"] and not answers["email"] and "guardian_phone" not in errors:
        errors.add("guardian_phone", "Enter a phone number or an email address for the parent or guardian")
    return answers


def read_safe_contact(visit: Visit, draft: Answers, errors: FormErrors) -> Answers:
    flags = _choices(visit, "safe", tuple(name for name, _ in SAFE_FLAGS))
    return {
        "safe_phone": _text(visit, errors, "safe_phone", "Safe phone number", PHONE_MAX),
        "safe_times": _text(visit, errors, "safe_times", "Safe times", SAFE_TIMES_MAX),
        **{name: "yes" if name in flags else "no" for name, _ in SAFE_FLAGS},
    }


def read_case(visit: Visit, draft: Answers, errors: FormErrors, *, ask_route: bool) -> Answers:
    answers: Answers = {}
    if ask_route:
        routes = (ArrivalRoute.OFFICER_NEEDS_ASSESSMENT.value, ArrivalRoute.OTHER_AGENCY.value)
        answers["arrival_route"] = _choice(
            visit, errors, "arrival_route", routes, "Select how the case reached the Hub"
        )
    answers["crime_category"] = _choice(
        visit, errors, "crime_category", tuple(CrimeCategory), "Select the type of crime"
    )
    answers["reported_to_police"] = _choice(
        visit, errors, "reported_to_police", YES_NO, "Select yes if the crime was reported to police"
    )
    answers["crime_reference"] = _text(visit, errors, "crime_reference", "Crime reference", CRIME_REFERENCE_MAX)
    if answers["crime_reference"] and answers["reported_to_police"] == "no" and "crime_reference" not in errors:
        errors.add("crime_reference", "A crime reference needs the crime to have been reported to police")
    answers["domestic_abuse_risk"] = _choice(
        visit, errors, "domestic_abuse_risk", tuple(DomesticAbuseRisk), "Select the domestic-abuse risk level"
    )
    if (
        answers["crime_category"] == CrimeCategory.DOMESTIC_ABUSE.value
        and answers["domestic_abuse_risk"] == DomesticAbuseRisk.NONE.value
    ):
        errors.add("domestic_abuse_risk", "A domestic-abuse case needs a risk level: standard, medium or high")
    flags = _choices(visit, "priority", tuple(name for name, _ in PRIORITY_FLAGS))
    answers |= {name: "yes" if name in flags else "no" for name, _ in PRIORITY_FLAGS}
    return answers


def read_needs(visit: Visit, draft: Answers, errors: FormErrors) -> Answers:
    needs = _choices(visit, "needs", tuple(Need))
    if not needs:
        errors.add("needs", "Select at least one need")
    return {
        "needs": needs,
        "assessment_notes": _text(visit, errors, "assessment_notes", "Assessment notes", NOTE_MAX),
    }


def read_providers(visit: Visit, draft: Answers, errors: FormErrors) -> list[str]:
    choices = {choice.profile.slug: choice for choice in provider_choices(draft)}
    chosen = _choices(visit, "providers", tuple(choices))
    if not chosen:
        errors.add("providers", "Select at least one provider")
    for slug in chosen:
        choice = choices[slug]
        if not choice.eligible:
            reasons = "; ".join(choice.problems)
            errors.add("providers", f"{choice.profile.display_name} cannot take this referral: {reasons}")
    return chosen


def read_consent(visit: Visit, draft: Answers, errors: FormErrors, *, profile: ProviderProfile) -> Answers:
    givers = (ConsentGiver.VICTIM.value, ConsentGiver.GUARDIAN.value) if needs_guardian(draft) else ("victim",)
    answers: Answers = {
        "given_by": _choice(visit, errors, "given_by", givers, "Select who gave consent"),
        "method": _choice(visit, errors, "method", tuple(ConsentMethod), "Select how consent was given"),
        "given_on": _date_parts(visit, "given_on"),
    }
    typed_date(errors, "given_on", answers["given_on"], what="the date consent was given", required=True, today=today())
    allowed = tuple(f.value for f in VictimField if f in profile.victim_fields)
    answers["data_categories"] = _choices(visit, "data_categories", allowed)
    if not answers["data_categories"]:
        errors.add("data_categories", "Select the information the victim agreed to share")
    answers["withheld_information"] = _text(visit, errors, "withheld_information", "Information withheld", NOTE_MAX)
    answers["withheld_reason"] = _text(visit, errors, "withheld_reason", "Reason", NOTE_MAX)
    if answers["withheld_information"] and not answers["withheld_reason"] and "withheld_reason" not in errors:
        errors.add("withheld_reason", "Enter why the information is withheld")
    if answers["withheld_reason"] and not answers["withheld_information"] and "withheld_information" not in errors:
        errors.add("withheld_information", "Enter the information withheld, or clear the reason")
    answers["statistics_consent"] = _choice(
        visit, errors, "statistics_consent", YES_NO, "Select yes if the victim agreed to be counted in statistics"
    )
    return answers


# -- the service's values, from a complete draft --------------------------------------------------------------


def _yes(answers: Answers, name: str) -> bool:
    return answers.get(name) == "yes"


def _or_none(value: Any) -> str | None:
    return str(value) if value else None


def guardian_input(draft: Answers) -> GuardianInput | None:
    if not needs_guardian(draft) or not draft.get("guardian"):
        return None
    guardian = draft["guardian"]
    return GuardianInput(
        name=guardian["name"],
        relationship=guardian["relationship"],
        phone=_or_none(guardian.get("phone")),
        email=_or_none(guardian.get("email")),
    )


def safe_contact_input(draft: Answers) -> SafeContact:
    safe = draft.get("safe_contact") or {}
    return SafeContact(
        safe_phone=_or_none(safe.get("safe_phone")),
        safe_times=_or_none(safe.get("safe_times")),
        voicemail_safe=_yes(safe, "voicemail_safe"),
        letters_safe=_yes(safe, "letters_safe"),
        perpetrator_shares_address=_yes(safe, "perpetrator_shares_address"),
    )


def victim_input(draft: Answers) -> VictimInput:
    victim, contact = draft["victim"], draft["contact"]
    return VictimInput(
        given_name=victim["given_name"],
        family_name=victim["family_name"],
        date_of_birth=date_of_birth(draft),
        address=_or_none(contact.get("address")),
        postcode=_or_none(contact.get("postcode")),
        phone=_or_none(contact.get("phone")),
        email=_or_none(contact.get("email")),
        guardian=guardian_input(draft),
        safe_contact=safe_contact_input(draft),
        language=_or_none(contact.get("language")),
        interpreter_needed=_yes(contact, "interpreter_needed"),
    )


def case_input(draft: Answers, *, route: ArrivalRoute | None = None) -> CaseInput:
    case, needs = draft["case"], draft["needs"]
    return CaseInput(
        arrival_route=route or ArrivalRoute(case["arrival_route"]),
        reported_to_police=_yes(case, "reported_to_police"),
        crime_category=CrimeCategory(case["crime_category"]),
        domestic_abuse_risk=DomesticAbuseRisk(case["domestic_abuse_risk"]),
        needs=frozenset(Need(n) for n in needs["needs"]),
        crime_reference=_or_none(case.get("crime_reference")),
        priority_most_serious_crime=_yes(case, "priority_most_serious_crime"),
        priority_persistently_targeted=_yes(case, "priority_persistently_targeted"),
        priority_vulnerable_or_intimidated=_yes(case, "priority_vulnerable_or_intimidated"),
        assessment_notes=_or_none(needs.get("assessment_notes")),
    )


def consent_input(slug: str, consent: Answers) -> ConsentInput:
    """The consent record to share with one provider, as the co-ordinator recorded it."""
    given_on = parts_date(consent["given_on"])
    assert given_on is not None
    return ConsentInput(
        given_by=ConsentGiver(consent["given_by"]),
        method=ConsentMethod(consent["method"]),
        given_at=start_of_local_day(given_on),
        provider_slugs=frozenset({slug}),
        data_categories=frozenset(VictimField(f) for f in consent["data_categories"]),
        statistics_consent=_yes(consent, "statistics_consent"),
        withheld_information=_or_none(consent.get("withheld_information")),
        withheld_reason=_or_none(consent.get("withheld_reason")),
    )


def consent_inputs(draft: Answers) -> list[ConsentInput]:
    """One consent record per chosen provider."""
    return [consent_input(slug, draft["consents"][slug]) for slug in draft.get("providers", [])]


def options(codes: Any, chosen: Any = None) -> list[dict[str, Any]]:
    """GOV.UK radio or checkbox items for a vocabulary, in its own order, with the answers given checked."""
    picked = set(chosen) if isinstance(chosen, list | tuple | set) else {chosen}
    return [{"value": str(code), "text": label(str(code)), "checked": str(code) in picked} for code in codes]
