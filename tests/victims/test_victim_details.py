"""Victim details are copied by name between inputs and tables: each name must stand on every side it is copied to."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from gateway.referrals.models import SelfReferral
from gateway.referrals.service import SelfReferralSubmission
from gateway.victims.models import Victim
from gateway.victims.service import (
    PERSONAL_DETAIL_FIELDS,
    SAFE_CONTACT_FIELDS,
    SafeContact,
    VictimInput,
    personal_details_of,
    safe_contact_columns,
    safe_contact_of,
)


def test_the_copied_names_are_columns_of_both_tables_and_fields_of_both_inputs() -> None:
    # Given the tables and the inputs that hold a victim's details
    for table in (Victim, SelfReferral):
        columns = set(sa.inspect(table).columns.keys())

        # Then every safe-contact and personal-detail name is one of the table's columns
        assert set(SAFE_CONTACT_FIELDS) <= columns, table
        assert set(PERSONAL_DETAIL_FIELDS) <= columns, table
    for shape in (VictimInput, SelfReferralSubmission):
        # And every personal-detail name is a field of the input
        assert set(PERSONAL_DETAIL_FIELDS) <= {f.name for f in dataclasses.fields(shape)}, shape


def test_safe_contact_and_personal_details_come_back_as_they_were_stored() -> None:
    # Given safe-contact instructions and a self-referral's personal details
    safe = SafeContact(
        safe_phone="07700900002",
        safe_times="Evenings only",
        voicemail_safe=True,
        letters_safe=False,
        perpetrator_shares_address=True,
    )
    submission = SelfReferralSubmission(
        given_name="Alex",
        family_name="Example",
        consent_to_contact=True,
        address="1 Example Street",
        phone="07700900001",
        language="Welsh",
        interpreter_needed=True,
        safe_contact=safe,
    )

    # When they are written to a victim row
    victim = Victim(
        hub_organisation_id=1,
        given_name="Alex",
        family_name="Example",
        **personal_details_of(submission),
        **safe_contact_columns(safe),
    )

    # Then reading them back gives the same values
    assert safe_contact_of(victim) == safe
    assert personal_details_of(victim) == personal_details_of(submission)
    assert (victim.address, victim.language, victim.interpreter_needed) == ("1 Example Street", "Welsh", True)
