"""The multi-agency virtual Restorative Justice hub and its co-ordinator."""

from providers.profile import (
    CAMBRIDGESHIRE_AND_PETERBOROUGH,
    Eligibility,
    Need,
    OutcomeMeasure,
    ProviderProfile,
    VictimField,
)

PROFILE = ProviderProfile(
    slug="rj-hub",
    display_name="Restorative Justice Hub",
    operating_organisation="Cambridgeshire and Peterborough multi-agency Restorative Justice Hub",
    services=(
        "Assessment of suitability and risk for restorative justice",
        "Face-to-face restorative conferences",
        "Indirect restorative interventions: shuttle communication and letters",
    ),
    eligibility=Eligibility(
        area=CAMBRIDGESHIRE_AND_PETERBOROUGH,
        summary="Victims of any crime who have shown an interest in restorative justice.",
        any_of_needs=frozenset({Need.RESTORATIVE_JUSTICE_INTEREST}),
    ),
    first_contact_target_hours=72,
    victim_fields=frozenset(
        {
            VictimField.NAME,
            VictimField.AGE,
            VictimField.ADDRESS,
            VictimField.PHONE,
            VictimField.EMAIL,
            VictimField.SAFE_CONTACT,
            VictimField.GUARDIAN,
            VictimField.LANGUAGE,
            VictimField.CRIME_CATEGORY,
            VictimField.CRIME_REFERENCE,
            VictimField.DOMESTIC_ABUSE_RISK,
            VictimField.NEEDS,
        }
    ),
    outcome_measures=(
        OutcomeMeasure("harmed-person-satisfied", "Person harmed satisfied with the restorative process at follow-up"),
        OutcomeMeasure("agreement-completed", "Outcome agreement actions completed"),
    ),
)
