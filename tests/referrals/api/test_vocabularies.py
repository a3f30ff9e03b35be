"""Controlled vocabularies are GraphQL enums generated from the domain, and `providers` publishes what an integrator
needs before referring.

Before, every code was a String (an integrator learnt the values from error messages), and `providers` gave neither
the victim fields a provider may receive, nor the needs it takes, whether a guardian is needed or its outcome measures.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, get_named_type

from gateway.consent.models import ConsentMethod
from gateway.consent.service import ConsentState
from gateway.grants.models import FundingSource, TargetMeasure
from gateway.monitoring.service.figures import Rag
from gateway.outcomes.models import MeasureResult
from gateway.referrals.models import (
    ArrivalRoute,
    CancelReason,
    ContactMethod,
    ContactResult,
    DomesticAbuseRisk,
    FailReason,
    IntakeStatus,
    RejectReason,
    TaskStatus,
)
from gateway.referrals.service import IntakeCloseReason, OverdueReason
from gateway.restorative_justice.models import (
    CaseSource,
    ClosureReason,
    ConferenceStatus,
    FacilitatorRole,
    InterventionKind,
    PartyRole,
    RjStage,
    Satisfaction,
)
from gateway.schema import build_schema
from gateway.victims.models import AgeBand, ConsentGiver, Disability, Sex
from providers.profile import CrimeCategory, MojOutcome, Need, VictimField
from providers.registry import all_profiles
from tests.support.api import CREATE_REFERRAL, Gateway, referral_input

SCHEMA = build_schema()._schema

VOCABULARIES: dict[str, type[StrEnum]] = {
    "CrimeCategory": CrimeCategory,
    "Need": Need,
    "VictimField": VictimField,
    "MojOutcome": MojOutcome,
    "ArrivalRoute": ArrivalRoute,
    "DomesticAbuseRisk": DomesticAbuseRisk,
    "TaskStatus": TaskStatus,
    "RejectReason": RejectReason,
    "CancelReason": CancelReason,
    "FailReason": FailReason,
    "OverdueReason": OverdueReason,
    "ContactMethod": ContactMethod,
    "ContactResult": ContactResult,
    "IntakeStatus": IntakeStatus,
    "IntakeCloseReason": IntakeCloseReason,
    "ConsentMethod": ConsentMethod,
    "ConsentGiver": ConsentGiver,
    "ConsentState": ConsentState,
    "AgeBand": AgeBand,
    "Sex": Sex,
    "Disability": Disability,
    "MeasureResult": MeasureResult,
    "FundingSource": FundingSource,
    "TargetMeasure": TargetMeasure,
    "Rag": Rag,
    "RjCaseSource": CaseSource,
    "RjStage": RjStage,
    "RjPartyRole": PartyRole,
    "RjFacilitatorRole": FacilitatorRole,
    "RjInterventionKind": InterventionKind,
    "RjConferenceStatus": ConferenceStatus,
    "RjSatisfaction": Satisfaction,
    "RjClosureReason": ClosureReason,
}

# Where each vocabulary is used: (type, field) -> the enum it must be.
TYPED_FIELDS = {
    ("CaseInput", "arrivalRoute"): "ArrivalRoute",
    ("CaseInput", "crimeCategory"): "CrimeCategory",
    ("CaseInput", "domesticAbuseRisk"): "DomesticAbuseRisk",
    ("CaseInput", "needs"): "Need",
    ("ConsentInput", "givenBy"): "ConsentGiver",
    ("ConsentInput", "method"): "ConsentMethod",
    ("ConsentInput", "dataCategories"): "VictimField",
    ("EqualityInput", "ageBand"): "AgeBand",
    ("EqualityInput", "sex"): "Sex",
    ("EqualityInput", "disability"): "Disability",
    ("RecordContactAttemptInput", "method"): "ContactMethod",
    ("RecordContactAttemptInput", "result"): "ContactResult",
    ("RejectTaskInput", "reason"): "RejectReason",
    ("CancelTaskInput", "reason"): "CancelReason",
    ("FailTaskInput", "reason"): "FailReason",
    ("TriageSelfReferralInput", "closeReason"): "IntakeCloseReason",
    ("OutcomeInput", "feelingSafer"): "MeasureResult",
    ("ProviderMeasureInput", "result"): "MeasureResult",
    ("GrantInput", "fundingSource"): "FundingSource",
    ("GrantTargetInput", "measure"): "TargetMeasure",
    ("CreateRjCaseInput", "source"): "RjCaseSource",
    ("CreateRjCaseInput", "crimeCategory"): "CrimeCategory",
    ("AddRjPartyInput", "role"): "RjPartyRole",
    ("RecordRjPartyConsentInput", "method"): "ConsentMethod",
    ("RecordRjInterventionInput", "kind"): "RjInterventionKind",
    ("RecordRjFollowUpInput", "harmedSatisfaction"): "RjSatisfaction",
    ("CloseRjCaseInput", "reason"): "RjClosureReason",
    ("Task", "status"): "TaskStatus",
    ("Task", "overdue"): "OverdueReason",
    ("ContactAttempt", "method"): "ContactMethod",
    ("Case", "needs"): "Need",
    ("ProviderVictim", "fields"): "VictimField",
    ("Consent", "dataCategories"): "VictimField",
    ("TaskConsent", "state"): "ConsentState",
    ("IntakeItem", "status"): "IntakeStatus",
    ("RjCase", "stage"): "RjStage",
    ("RjParty", "role"): "RjPartyRole",
    ("RjConference", "status"): "RjConferenceStatus",
    ("RjCaseloadEntry", "role"): "RjFacilitatorRole",
    ("Provider", "victimFields"): "VictimField",
    ("ProviderEligibility", "crimeCategories"): "CrimeCategory",
    ("ProviderEligibility", "anyOfNeeds"): "Need",
    ("OutcomeFigure", "measure"): "MojOutcome",
    ("TargetResult", "measure"): "TargetMeasure",
    ("TargetResult", "status"): "Rag",
    ("Grant", "fundingSource"): "FundingSource",
}


@pytest.mark.parametrize("name", VOCABULARIES)
def test_each_vocabulary_is_an_enum_of_the_domain_s_members(name: str) -> None:
    enum = SCHEMA.get_type(name)

    assert isinstance(enum, GraphQLEnumType)
    assert list(enum.values) == [member.name for member in VOCABULARIES[name]]


@pytest.mark.parametrize(("owner", "field"), TYPED_FIELDS)
def test_each_field_carrying_a_code_is_typed_by_its_vocabulary(owner: str, field: str) -> None:
    kind = SCHEMA.get_type(owner)

    assert isinstance(kind, GraphQLInputObjectType | GraphQLObjectType)
    assert get_named_type(kind.fields[field].type).name == TYPED_FIELDS[(owner, field)]


def test_inbox_and_rj_cases_filter_by_the_vocabularies() -> None:
    query = SCHEMA.query_type
    assert query is not None

    assert get_named_type(query.fields["inbox"].args["status"].type).name == "TaskStatus"
    assert get_named_type(query.fields["rjCases"].args["stage"].type).name == "RjStage"


PROVIDERS = """{ providers { slug firstContactTargetHours victimFields mojOutcomes outcomeMeasures { code description }
  eligibility { minAge maxAge crimeCategories anyOfNeeds guardianRequirement } } }"""


async def test_providers_publishes_what_an_integrator_needs_before_referring(gateway: Gateway) -> None:
    body = await gateway.gql(None, PROVIDERS)

    published = {p["slug"]: p for p in body["data"]["providers"]}
    assert set(published) == set(all_profiles())
    for slug, profile in all_profiles().items():
        shown, rules = published[slug], profile.eligibility
        assert shown["victimFields"] == sorted((f.name for f in profile.victim_fields), key=lambda n: VictimField[n])
        assert shown["eligibility"]["crimeCategories"] == sorted(
            (c.name for c in rules.crime_categories), key=lambda n: CrimeCategory[n]
        )
        assert shown["eligibility"]["anyOfNeeds"] == sorted((n.name for n in rules.any_of_needs), key=lambda n: Need[n])
        assert (shown["eligibility"]["minAge"], shown["eligibility"]["maxAge"]) == (rules.min_age, rules.max_age)
        assert shown["firstContactTargetHours"] == profile.first_contact_target_hours
        assert shown["mojOutcomes"] == [m.name for m in MojOutcome]
        assert shown["outcomeMeasures"] == [
            {"code": m.code, "description": m.description} for m in profile.outcome_measures
        ]
    assert published["cpn"]["eligibility"]["anyOfNeeds"] == ["MENTAL_HEALTH"]
    assert {slug: p["eligibility"]["guardianRequirement"] for slug, p in published.items()} == {
        "cpn": "NEVER",  # adults only
        "family-action": "ALWAYS",  # children only
        "rape-crisis": "ALWAYS",
        "rj-hub": "UNDER_18",  # any age: a child needs a guardian
        "road-victims-trust": "UNDER_18",
    }


async def test_a_consent_built_from_the_published_victim_fields_is_taken(gateway: Gateway) -> None:
    published = await gateway.gql(None, "{ providers { slug victimFields } }")
    fields = next(p["victimFields"] for p in published["data"]["providers"] if p["slug"] == "cpn")
    referral: dict[str, Any] = referral_input(providers=["cpn"])
    referral["consents"][0]["dataCategories"] = fields

    body = await gateway.gql("hub", CREATE_REFERRAL, {"input": referral})

    assert body["data"]["createReferral"]["__typename"] == "ReferralPayload", body


async def test_a_code_outside_its_vocabulary_is_refused_before_anything_runs(gateway: Gateway) -> None:
    before = await gateway.gql("hub", "{ referrals(first: 50) { items { id } } }")
    referral = referral_input(providers=["cpn"])
    referral["case"]["crimeCategory"] = "violence"  # the stored value, not the enum's name

    body = await gateway.gql("hub", CREATE_REFERRAL, {"input": referral})

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["validation"]
    assert await gateway.gql("hub", "{ referrals(first: 50) { items { id } } }") == before
