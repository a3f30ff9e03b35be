"""The Road Victims Trust: bereaved families and people affected by fatal and serious collisions."""

from providers.profile import (
    CAMBRIDGESHIRE_AND_PETERBOROUGH,
    CrimeCategory,
    Eligibility,
    OutcomeMeasure,
    ProviderProfile,
    VictimField,
)

PROFILE = ProviderProfile(
    slug="road-victims-trust",
    display_name="Road Victims Trust",
    operating_organisation="Road Victims Trust (registered charity)",
    services=(
        "Support for bereaved families after fatal road collisions",
        "Support for people seriously injured or affected by road collisions",
        "Volunteer support through inquests and court",
    ),
    eligibility=Eligibility(
        area=CAMBRIDGESHIRE_AND_PETERBOROUGH,
        summary="Anyone bereaved or affected by a fatal or serious road collision, of any age.",
        crime_categories=frozenset({CrimeCategory.ROAD_COLLISION}),
    ),
    first_contact_target_hours=48,
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
            VictimField.NEEDS,
        }
    ),
    outcome_measures=(OutcomeMeasure("inquest-support", "Family supported through the inquest"),),
)
