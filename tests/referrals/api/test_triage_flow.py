"""From a victim's own request to a referral a provider receives, over HTTP with real tokens; the door's contract.

The Hub's case-management client triages (it acts for the co-ordinators), in the same step records the consent the
victim gave and names the providers; consent and providers can also be added to the referral afterwards.
"""

from __future__ import annotations

from typing import Any

from gateway.referrals.http import SelfReferralBody
from providers.profile import CrimeCategory, Need
from tests.support.api import SEND_TASK, Gateway, key, referral_input

VICTIM_BODY: dict[str, Any] = {
    "given_name": "Ottoline",
    "family_name": "Brackenbury",
    "consent_to_contact": True,
    "date_of_birth": "1987-03-04",
    "phone": "07700900456",
    "safe_contact": {"safe_phone": "07700900457", "safe_times": "Mornings", "voicemail_safe": False},
    "crime_category": "violence",
    "needs": ["mental-health"],
    "what_happened": "I was attacked on the way home.",
}

# The consent and case as createReferral takes them (the vocabularies spelled as the schema spells them).
_EXAMPLE = referral_input(providers=["cpn"])
CONSENT: dict[str, Any] = {k: v for k, v in _EXAMPLE["consents"][0].items() if k != "providers"}
CASE: dict[str, Any] = _EXAMPLE["case"]  # its arrival route is overridden: a triaged case arrived as a self-referral


def code(value: str) -> str:
    """A status or route as the domain's code, whether the schema sends it as the code or as an enum name."""
    return value.lower().replace("_", "-")


REFERRAL_FIELDS = (
    "id case { arrivalRoute } consents { providers } tasks { id provider status version }"
    " intakeItem { id confirmationReference }"
)
TRIAGE = f"""
mutation($i: TriageSelfReferralInput!) {{
  triageSelfReferral(input: $i) {{
    __typename
    ... on IntakePayload {{ intakeItem {{ id status referralId referral {{ {REFERRAL_FIELDS} }} }} }}
    ... on OperationError {{ code message }}
  }}
}}"""
ADD_TASK = """
mutation($i: AddReferralTaskInput!) {
  addReferralTask(input: $i) {
    __typename
    ... on TaskPayload { task { id provider status } }
    ... on OperationError { code message }
  }
}"""
RECORD_CONSENT = """
mutation($i: RecordConsentInput!) {
  recordConsent(input: $i) {
    __typename
    ... on ConsentPayload { consent { id providers } }
    ... on OperationError { code message }
  }
}"""
REFERRAL = f"query($id: ID!) {{ referral(id: $id) {{ {REFERRAL_FIELDS} }} }}"


async def _self_referral(gateway: Gateway) -> tuple[str, str]:
    """A victim refers themselves; the Hub's queue holds the item. Its id and confirmation reference."""
    response = await gateway.http.post("/self-referral", json=VICTIM_BODY, headers={"idempotency-key": key()})
    assert response.status_code == 202, response.text
    reference = response.json()["reference"]
    queue = await gateway.gql("hub", "{ intakeQueue { items { id confirmationReference } } }")
    [item] = [i for i in queue["data"]["intakeQueue"]["items"] if i["confirmationReference"] == reference]
    return item["id"], reference


async def _triage(gateway: Gateway, intake_id: str, role: str | None = "hub", **extra: Any) -> dict[str, Any]:
    body = await gateway.raw(role, TRIAGE, {"i": {"intakeId": intake_id, "idempotencyKey": key(), **extra}})
    assert body.status_code == 200, body.text
    answer: dict[str, Any] = body.json()
    return answer


async def test_the_hub_client_triages_a_self_referral_into_a_referral_a_provider_can_be_sent(gateway: Gateway) -> None:
    intake_id, reference = await _self_referral(gateway)

    # When the Hub's client triages it with the consent the victim gave and the provider to refer to
    answer = await _triage(
        gateway, intake_id, case=CASE, consents=[{**CONSENT, "providers": ["cpn"]}], providers=["cpn"]
    )

    # Then the intake item shows the referral it became, with the consent and a draft task, and where it came from
    assert answer["data"] is not None, answer
    assert answer["data"]["triageSelfReferral"]["__typename"] == "IntakePayload", answer
    item = answer["data"]["triageSelfReferral"]["intakeItem"]
    referral = item["referral"]
    assert (code(item["status"]), item["referralId"]) == ("referral-created", referral["id"])
    assert code(referral["case"]["arrivalRoute"]) == "self-referral"
    assert referral["consents"] == [{"providers": ["cpn"]}]
    assert [(t["provider"], code(t["status"])) for t in referral["tasks"]] == [("cpn", "draft")]
    assert referral["intakeItem"] == {"id": intake_id, "confirmationReference": reference}

    # And the task can be sent under that consent, and the provider receives the victim typed in once, by the victim
    task = referral["tasks"][0]
    sent = await gateway.gql(
        "hub", SEND_TASK, {"input": {"taskId": task["id"], "expectedVersion": task["version"], "idempotencyKey": key()}}
    )
    assert sent["data"]["sendTask"]["__typename"] == "TaskPayload", sent
    seen = await gateway.gql("cpn", "query($id: ID!) { task(id: $id) { victim { givenName } } }", {"id": task["id"]})
    assert seen["data"]["task"]["victim"]["givenName"] == VICTIM_BODY["given_name"]

    # And the queue no longer holds it
    queue = await gateway.gql("hub", "{ intakeQueue { items { id } } }")
    assert queue["data"]["intakeQueue"]["items"] == []


async def test_triage_refuses_a_provider_without_consent_and_the_item_waits(gateway: Gateway) -> None:
    intake_id, _ = await _self_referral(gateway)

    answer = await _triage(gateway, intake_id, case=CASE, providers=["cpn"])

    assert answer["data"]["triageSelfReferral"]["code"] == "consent-required"
    queue = await gateway.gql("hub", "{ intakeQueue { items { id } } referrals { items { id } } }")
    assert queue["data"] == {"intakeQueue": {"items": [{"id": intake_id}]}, "referrals": {"items": []}}


async def test_consent_and_a_provider_are_added_to_a_referral_triaged_without_them(gateway: Gateway) -> None:
    intake_id, _ = await _self_referral(gateway)
    triaged = await _triage(gateway, intake_id, case=CASE)
    referral_id = triaged["data"]["triageSelfReferral"]["intakeItem"]["referralId"]

    # Without consent the provider is refused, with a stable code
    refused = await gateway.gql(
        "hub", ADD_TASK, {"i": {"referralId": referral_id, "provider": "cpn", "idempotencyKey": key()}}
    )
    assert refused["data"]["addReferralTask"]["code"] == "consent-required"

    # When the co-ordinator records the victim's consent against the referral, the provider can be added (a retry
    # with the same key adds nothing more)
    consent = {"referralId": referral_id, "consent": {**CONSENT, "providers": ["cpn"]}, "idempotencyKey": key()}
    recorded = await gateway.gql("hub", RECORD_CONSENT, {"i": consent})
    assert recorded["data"]["recordConsent"]["__typename"] == "ConsentPayload", recorded
    add = {"referralId": referral_id, "provider": "cpn", "idempotencyKey": key()}
    added = await gateway.gql("hub", ADD_TASK, {"i": add})
    again = await gateway.gql("hub", ADD_TASK, {"i": add})
    assert code(added["data"]["addReferralTask"]["task"]["status"]) == "draft"
    assert again["data"]["addReferralTask"] == added["data"]["addReferralTask"]

    # And a provider the case is not eligible for is refused, even with consent
    consent = {"referralId": referral_id, "consent": {**CONSENT, "providers": ["rape-crisis"]}, "idempotencyKey": key()}
    await gateway.gql("hub", RECORD_CONSENT, {"i": consent})
    ineligible = await gateway.gql(
        "hub", ADD_TASK, {"i": {"referralId": referral_id, "provider": "rape-crisis", "idempotencyKey": key()}}
    )
    assert ineligible["data"]["addReferralTask"]["code"] == "not-eligible"

    after = await gateway.gql("hub", REFERRAL, {"id": referral_id})
    assert [t["provider"] for t in after["data"]["referral"]["tasks"]] == ["cpn"]
    assert sorted(c["providers"][0] for c in after["data"]["referral"]["consents"]) == ["cpn", "rape-crisis"]


async def test_a_missing_referral_is_not_found_for_both_additions(gateway: Gateway) -> None:
    add = await gateway.gql(
        "hub", ADD_TASK, {"i": {"referralId": "987654", "provider": "cpn", "idempotencyKey": key()}}
    )
    consent = {"referralId": "987654", "consent": {**CONSENT, "providers": ["cpn"]}, "idempotencyKey": key()}
    recorded = await gateway.gql("hub", RECORD_CONSENT, {"i": consent})

    assert add["data"]["addReferralTask"]["code"] == "not-found"
    assert recorded["data"]["recordConsent"]["code"] == "not-found"


async def test_no_one_but_the_hub_triages_or_adds_to_a_referral_and_a_refusal_changes_nothing(
    gateway: Gateway,
) -> None:
    intake_id, _ = await _self_referral(gateway)
    other_id, _ = await _self_referral(gateway)
    triaged = await _triage(gateway, other_id, case=CASE, consents=[{**CONSENT, "providers": ["cpn", "rj-hub"]}])
    referral_id = triaged["data"]["triageSelfReferral"]["intakeItem"]["referralId"]
    snapshot = "{ intakeQueue { items { id status } } referrals { items { " + REFERRAL_FIELDS + " } } }"
    before = await gateway.gql("hub", snapshot)

    operations = {
        "triageSelfReferral": (TRIAGE, {"i": {"intakeId": intake_id, "idempotencyKey": key(), "case": CASE}}),
        "addReferralTask": (
            ADD_TASK,
            {"i": {"referralId": referral_id, "provider": "rj-hub", "idempotencyKey": key()}},
        ),
        "recordConsent": (
            RECORD_CONSENT,
            {"i": {"referralId": referral_id, "consent": {**CONSENT, "providers": ["cpn"]}, "idempotencyKey": key()}},
        ),
    }
    answers = {}
    for role in (None, "cpn", "rj-hub", "commissioner"):
        for name, (query, variables) in operations.items():
            body = (await gateway.raw(role, query, variables)).json()
            answers[(role, name)] = (body["data"], [e["extensions"]["code"] for e in body["errors"]])

    assert len(answers) == 12
    assert {cell: answer for cell, answer in answers.items() if answer != (None, ["forbidden"])} == {}
    assert await gateway.gql("hub", snapshot) == before


# -- the published contract of /self-referral -----------------------------------------------------------------------


async def _published(gateway: Gateway) -> dict[str, Any]:
    response = await gateway.http.get("/self-referral/schema.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/schema+json")
    schema: dict[str, Any] = response.json()
    return schema


def _problems(schema: dict[str, Any], body: dict[str, Any]) -> list[str]:
    """What the published schema says is wrong with a body: fields, required fields, enums and lengths."""
    problems = [f"unknown {name}" for name in body if name not in schema["properties"]]
    problems += [f"missing {name}" for name in schema["required"] if name not in body]
    for name, value in body.items():
        rule = schema["properties"].get(name, {})
        choices = [schema["$defs"][ref.split("/")[-1]] for ref in _refs(rule)]
        for allowed in (c["enum"] for c in choices if "enum" in c):
            values = value if isinstance(value, list) else [value]
            problems += [f"{name} not a code" for v in values if v is not None and v not in allowed]
        bounds = [r["maxLength"] for r in [rule, *rule.get("anyOf", [])] if "maxLength" in r]
        if bounds and isinstance(value, str) and len(value) > bounds[0]:
            problems.append(f"{name} too long")
    return problems


def _refs(rule: dict[str, Any]) -> list[str]:
    found = [rule["$ref"]] if "$ref" in rule else []
    for nested in [*rule.get("anyOf", []), *([rule["items"]] if "items" in rule else [])]:
        found += _refs(nested)
    return found


async def test_the_published_schema_is_the_model_the_door_validates_with(gateway: Gateway) -> None:
    schema = await _published(gateway)

    assert set(schema["properties"]) == set(SelfReferralBody.model_fields)
    assert sorted(schema["required"]) == sorted(n for n, f in SelfReferralBody.model_fields.items() if f.is_required())
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["CrimeCategory"]["enum"] == [c.value for c in CrimeCategory]
    assert schema["$defs"]["Need"]["enum"] == [n.value for n in Need]


async def test_a_body_the_schema_accepts_is_taken_and_ones_it_refuses_are_refused(gateway: Gateway) -> None:
    schema = await _published(gateway)
    refused_bodies = {
        "a field under another name": {**VICTIM_BODY, "first_name": "Ottoline"},
        "a required field missing": {k: v for k, v in VICTIM_BODY.items() if k != "family_name"},
        "a crime category that is not a code": {**VICTIM_BODY, "crime_category": "assault"},
        "a need that is not a code": {**VICTIM_BODY, "needs": ["counselling"]},
        "a name too long": {**VICTIM_BODY, "given_name": "O" * 101},
    }

    assert _problems(schema, VICTIM_BODY) == []
    taken = await gateway.http.post("/self-referral", json=VICTIM_BODY, headers={"idempotency-key": key()})
    assert taken.status_code == 202

    for what, body in refused_bodies.items():
        assert _problems(schema, body) != [], what
        answer = await gateway.http.post("/self-referral", json=body, headers={"idempotency-key": key()})
        assert (answer.status_code, answer.json()["error"]) == (400, "validation"), what
