"""Rules for Restorative Justice casework at the RJ hub, one responsibility a module.

- access: who reaches which case (a WHERE clause), loading what they reach, and the opening of every case change
- rules: what every step checks (stage, cleared assessment, consent) and cancelling a halted case's conferences
- facilitators: registering and accrediting facilitators, assigning them to cases, their calendar-feed tokens
- cases: opening cases and reading them (one case with its detail, a page, a facilitator's caseload)
- assessment: initial contact, the suitability assessment and its case-supervisor approval
- parties: the people harmed and responsible and their supporters, their consent and withdrawal
- stages: preparation, the intervention, the outcome agreement, follow-up and closure
- conferences: booking free of clashes (which assigns the booked facilitators), rescheduling, cancelling,
  attendance, and conferences recorded after they took place
  (conference_booking: what makes a booking valid; conference_clashes: double-booking refused, and looked for
  before saving)
- notes: case notes, written and read under audit
- overview: the co-ordinator's home (open cases and whom they wait on, tasks still to become cases), diaries
- monitoring: the grant-monitoring counts gateway.monitoring reads

Services flush and never commit; the caller commits once, or rolls back when a DomainError is raised.
"""

from gateway.restorative_justice.service.access import PURPOSE_RJ, RJ_HUB_SLUG, own_facilitator
from gateway.restorative_justice.service.assessment import (
    approve_assessment,
    record_assessment,
    record_initial_contact,
)
from gateway.restorative_justice.service.cases import (
    CaseDetail,
    CaseloadEntry,
    case_for_task,
    create_case_from_task,
    create_direct_case,
    find_case_by_reference,
    get_case,
    get_case_detail,
    list_caseload,
    list_cases,
)
from gateway.restorative_justice.service.conference_booking import ConferenceBooking
from gateway.restorative_justice.service.conference_clashes import booking_clashes
from gateway.restorative_justice.service.conferences import (
    cancel_conference,
    load_conference_links,
    record_attendance,
    record_past_conference,
    reschedule_conference,
    schedule_conference,
)
from gateway.restorative_justice.service.facilitators import (
    FacilitatorCandidate,
    FeedConference,
    IssuedFeedToken,
    assign_facilitators,
    feed_for_token,
    feed_token_hash,
    list_facilitator_candidates,
    list_facilitators,
    register_facilitator,
    renew_accreditation,
    rotate_feed_token,
)
from gateway.restorative_justice.service.monitoring import RjQuarterlyCounts, rj_quarterly_counts
from gateway.restorative_justice.service.notes import add_case_note
from gateway.restorative_justice.service.overview import (
    AwaitingTask,
    DiaryEntry,
    OpenCase,
    Overview,
    list_diary,
    rj_overview,
)
from gateway.restorative_justice.service.parties import (
    PartyInput,
    add_party,
    record_party_consent,
    withdraw_party,
)
from gateway.restorative_justice.service.rules import UK, from_uk_time, uk_today
from gateway.restorative_justice.service.stages import (
    ActionInput,
    close_case,
    mark_action_done,
    record_follow_up,
    record_intervention,
    record_outcome_agreement,
    record_preparation_meeting,
    schedule_follow_up,
)

__all__ = [
    "PURPOSE_RJ",
    "RJ_HUB_SLUG",
    "UK",
    "ActionInput",
    "AwaitingTask",
    "CaseDetail",
    "CaseloadEntry",
    "ConferenceBooking",
    "DiaryEntry",
    "FacilitatorCandidate",
    "FeedConference",
    "IssuedFeedToken",
    "OpenCase",
    "Overview",
    "PartyInput",
    "RjQuarterlyCounts",
    "add_case_note",
    "add_party",
    "approve_assessment",
    "assign_facilitators",
    "booking_clashes",
    "cancel_conference",
    "case_for_task",
    "close_case",
    "create_case_from_task",
    "create_direct_case",
    "feed_for_token",
    "feed_token_hash",
    "find_case_by_reference",
    "from_uk_time",
    "get_case",
    "get_case_detail",
    "list_caseload",
    "list_cases",
    "list_diary",
    "list_facilitator_candidates",
    "list_facilitators",
    "load_conference_links",
    "mark_action_done",
    "own_facilitator",
    "record_assessment",
    "record_attendance",
    "record_follow_up",
    "record_initial_contact",
    "record_intervention",
    "record_outcome_agreement",
    "record_party_consent",
    "record_past_conference",
    "record_preparation_meeting",
    "register_facilitator",
    "renew_accreditation",
    "reschedule_conference",
    "rj_overview",
    "rj_quarterly_counts",
    "rotate_feed_token",
    "schedule_conference",
    "schedule_follow_up",
    "uk_today",
    "withdraw_party",
]
