"""Rules for the data-protection officer's tools, one responsibility a module.

- access: the officer's scope, and the principal the retention schedule acts as
- retention: erasure by the schedule, one victim per transaction, one s.62 erasure row per record
  (retention_victims: erasing whole victims; retention_sweeps: records not tied to one victim, in batches of rows;
  retention_tables: the tables and audit shape they share)
- officer: legal holds placed and lifted, a victim's details rectified
- subject_access: everything held about one victim and its disclosure trail, as one document
- trail: the audit trail of one victim or one organisation, paged and filtered
"""

from gateway.data_protection.service.access import require_officer, retention_actor
from gateway.data_protection.service.officer import (
    Correction,
    VictimDetail,
    lift_legal_hold,
    list_legal_holds,
    list_rectifications,
    place_legal_hold,
    rectify_victim,
)
from gateway.data_protection.service.retention import ERASED_KINDS, RetentionReport, run_retention
from gateway.data_protection.service.subject_access import subject_access_export
from gateway.data_protection.service.trail import audit_trail_page

__all__ = [
    "ERASED_KINDS",
    "Correction",
    "RetentionReport",
    "VictimDetail",
    "audit_trail_page",
    "lift_legal_hold",
    "list_legal_holds",
    "list_rectifications",
    "place_legal_hold",
    "rectify_victim",
    "require_officer",
    "retention_actor",
    "run_retention",
    "subject_access_export",
]
