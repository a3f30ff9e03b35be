"""Community Psychiatric Nurse mental-health pathfinders, run by CPFT."""

from providers.profile import (
    CAMBRIDGESHIRE_AND_PETERBOROUGH,
    Eligibility,
    Need,
    OutcomeMeasure,
    ProviderProfile,
    VictimField,
)

PROFILE = ProviderProfile(
    slug="cpn",
    display_name="Mental Health Pathfinders (Community Psychiatric Nurses)",
    operating_organisation="Cambridgeshire and Peterborough NHS Foundation Trust (CPFT)",
    services=(
        "Self-help techniques for relaxation, stress and anxiety",
        "Face-to-face visits",
        "Pathfinding into the most appropriate primary care services",
    ),
    eligibility=Eligibility(
        area=CAMBRIDGESHIRE_AND_PETERBOROUGH,
        summary="Adult victims of any crime whose needs assessment found a mental-health need.",
        min_age=18,
        any_of_needs=frozenset({Need.MENTAL_HEALTH}),
    ),
    first_contact_target_hours=48,
    victim_fields=frozenset(
        {
            VictimField.NAME,
            VictimField.DATE_OF_BIRTH,
            VictimField.AGE,
            VictimField.ADDRESS,
            VictimField.PHONE,
            VictimField.EMAIL,
            VictimField.SAFE_CONTACT,
            VictimField.LANGUAGE,
            VictimField.CRIME_CATEGORY,
            VictimField.PRIORITY_FLAGS,
            VictimField.NEEDS,
            VictimField.ASSESSMENT_NOTES,
        }
    ),
    outcome_measures=(
        OutcomeMeasure("wellbeing-score-change", "Change in wellbeing score between first and last session"),
        OutcomeMeasure("pathway-into-primary-care", "Victim connected to a primary care mental-health service"),
    ),
)
