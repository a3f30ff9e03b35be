"""Children and Young Person Sexual Violence Advisors at Cambridge and Peterborough Rape Crisis."""

from providers.profile import (
    CAMBRIDGESHIRE_AND_PETERBOROUGH,
    CrimeCategory,
    Eligibility,
    OutcomeMeasure,
    ProviderProfile,
    VictimField,
)

PROFILE = ProviderProfile(
    slug="rape-crisis",
    display_name="Children and Young Person Sexual Violence Advisors (CHISVAs)",
    operating_organisation="Cambridge Rape Crisis and Peterborough Rape Crisis",
    services=(
        "Specialist support for children and young people affected by sexual violence",
        "Advocacy through the criminal justice process",
    ),
    eligibility=Eligibility(
        area=CAMBRIDGESHIRE_AND_PETERBOROUGH,
        summary="Children and young people under 18 affected by sexual violence, reported to police or not.",
        min_age=0,
        max_age=17,
        crime_categories=frozenset({CrimeCategory.SEXUAL_OFFENCE}),
    ),
    first_contact_target_hours=48,
    victim_fields=frozenset(
        {
            VictimField.NAME,
            VictimField.AGE,
            VictimField.PHONE,
            VictimField.SAFE_CONTACT,
            VictimField.GUARDIAN,
            VictimField.LANGUAGE,
            VictimField.CRIME_CATEGORY,
            VictimField.PRIORITY_FLAGS,
            VictimField.NEEDS,
        }
    ),
    outcome_measures=(
        OutcomeMeasure("criminal-justice-engagement", "Young person supported through the criminal justice process"),
    ),
)
