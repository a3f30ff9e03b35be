"""Rules for referrals: creation, sending under consent, the task lifecycle, provider views, intake.

Every read and write filters on the actor's organisation in SQL: the Hub reaches the referrals it owns,
a provider reaches only the tasks sent to it. Missing and not-yours raise the same NotFound.
Services flush and never commit; the caller commits once, or rolls back when a DomainError is raised.

One module a responsibility: `access` (ownership filters, loading), `eligibility`, `create`, `send`,
`changes` (how any task change is made), `lifecycle` (status transitions), `progress` (sub-status and contact
attempts), `reads` (lists, batch loaders), `projection` and `disclosure` (what a provider sees of a victim and
the consent behind it), `intake` (self-referral), `hub_views` (one intake item, work to re-route), `additions`
(a consent or a provider added to a referral) and `withdrawal` (consent withdrawn: its effect on tasks).
"""

from gateway.referrals.service.access import (
    PURPOSE_INTAKE,
    PURPOSE_REFERRAL,
    PURPOSE_SAFEGUARDING,
    PURPOSE_SUPPORT,
    get_provider_task,
    get_task,
)
from gateway.referrals.service.additions import add_referral_task, record_referral_consent
from gateway.referrals.service.changes import TaskChange, check_can_move
from gateway.referrals.service.create import (
    CaseInput,
    create_follow_up_task,
    create_referral,
    validate_case_input,
)
from gateway.referrals.service.disclosure import (
    TaskConsentContext,
    TaskConsentSummary,
    get_victim_view_for_task,
    load_consent_contexts_for_tasks,
    load_consent_summaries_for_tasks,
    load_victim_views_for_tasks,
)
from gateway.referrals.service.eligibility import eligibility_problems
from gateway.referrals.service.hub_views import get_intake_item, list_tasks_to_reroute
from gateway.referrals.service.intake import (
    IntakeCloseReason,
    SelfReferralSubmission,
    TriageReferral,
    list_intake_queue,
    load_intake_items_for_referrals,
    submit_self_referral,
    triage_self_referral,
)
from gateway.referrals.service.lifecycle import (
    PROVIDER,
    Move,
    TaskCheck,
    accept_task,
    cancel_task,
    fail_task,
    hold_task,
    mark_task_entered_in_error,
    reject_task,
    resume_task,
    transition,
)
from gateway.referrals.service.progress import (
    mark_task_viewed,
    record_contact_attempt,
    record_first_contact,
    schedule_appointment,
    set_task_waitlisted,
)
from gateway.referrals.service.projection import (
    FIELD_SOURCES,
    VIEW_ATTRIBUTES,
    VIEW_STANDING_ATTRIBUTES,
    EqualityView,
    GuardianView,
    PriorityFlagsView,
    ProviderVictimView,
    victim_fields_for_attributes,
)
from gateway.referrals.service.reads import (
    ContactAttemptRecord,
    InboxOrder,
    InboxPage,
    OverdueReason,
    OverdueTask,
    get_referral,
    list_inbox,
    list_inbox_page,
    list_overdue_tasks,
    list_referrals,
    load_cases_for_referrals,
    load_contact_attempts_for_tasks,
    load_tasks_for_referrals,
    overdue_reasons,
)
from gateway.referrals.service.send import send_task
from gateway.referrals.service.withdrawal import withdraw_consent

__all__ = [
    "FIELD_SOURCES",
    "PROVIDER",
    "PURPOSE_INTAKE",
    "PURPOSE_REFERRAL",
    "PURPOSE_SAFEGUARDING",
    "PURPOSE_SUPPORT",
    "VIEW_ATTRIBUTES",
    "VIEW_STANDING_ATTRIBUTES",
    "CaseInput",
    "ContactAttemptRecord",
    "EqualityView",
    "GuardianView",
    "InboxOrder",
    "InboxPage",
    "IntakeCloseReason",
    "Move",
    "OverdueReason",
    "OverdueTask",
    "PriorityFlagsView",
    "ProviderVictimView",
    "SelfReferralSubmission",
    "TaskChange",
    "TaskCheck",
    "TaskConsentContext",
    "TaskConsentSummary",
    "TriageReferral",
    "accept_task",
    "add_referral_task",
    "cancel_task",
    "check_can_move",
    "create_follow_up_task",
    "create_referral",
    "eligibility_problems",
    "fail_task",
    "get_intake_item",
    "get_provider_task",
    "get_referral",
    "get_task",
    "get_victim_view_for_task",
    "hold_task",
    "list_inbox",
    "list_inbox_page",
    "list_intake_queue",
    "list_overdue_tasks",
    "list_referrals",
    "list_tasks_to_reroute",
    "load_cases_for_referrals",
    "load_consent_contexts_for_tasks",
    "load_consent_summaries_for_tasks",
    "load_contact_attempts_for_tasks",
    "load_intake_items_for_referrals",
    "load_tasks_for_referrals",
    "load_victim_views_for_tasks",
    "mark_task_entered_in_error",
    "mark_task_viewed",
    "overdue_reasons",
    "record_contact_attempt",
    "record_first_contact",
    "record_referral_consent",
    "reject_task",
    "resume_task",
    "schedule_appointment",
    "send_task",
    "set_task_waitlisted",
    "submit_self_referral",
    "transition",
    "triage_self_referral",
    "validate_case_input",
    "victim_fields_for_attributes",
    "withdraw_consent",
]
