"""Family Action's specialist co-ordinator for young victims of crime and their families."""

from providers.profile import (
    CAMBRIDGESHIRE_AND_PETERBOROUGH,
    Eligibility,
    OutcomeMeasure,
    ProviderProfile,
    VictimField,
)

PROFILE = ProviderProfile(
    slug="family-action",
    display_name="Specialist Victim Care Co-ordinator for Young Victims",
    operating_organisation="Family Action (Peterborough)",
    services=(
        "Emotional and practical support for young victims and their families",
        "Advocacy for the young person's needs",
        "Access to services provided by other agencies",
    ),
    eligibility=Eligibility(
        area=CAMBRIDGESHIRE_AND_PETERBOROUGH,
        summary="Victims of any crime aged under 18, with their families.",
        min_age=0,
        max_age=17,
    ),
    first_contact_target_hours=48,
    victim_fields=frozenset(
        {
            VictimField.NAME,
            VictimField.DATE_OF_BIRTH,
            VictimField.AGE,
            VictimField.ADDRESS,
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
        OutcomeMeasure("school-engagement", "Young person's engagement with school or college maintained or improved"),
    ),
)
