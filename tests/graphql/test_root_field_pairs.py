"""Any two root query fields in one document answer as each does alone, on both databases and both executors.

GraphQL resolves sibling root fields concurrently while the request has one database session; a resolver that
used it outside the request's lock answered `Unexpected error.` on PostgreSQL when combined (monitoring twice,
monitoring with the quarterly return or the grants). Each caller asks for every pair of the root fields it may
read, each field twice under two aliases too, with the nested relations that go through dataloaders.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.support.api import Gateway, client
from tests.support.callers import (
    CallerWorld,
    caller_templates,
    caller_world,
    caller_world_and_url,
    database_url,
    gateway,
    settings,
)

# The caller world's fixtures, bound for this module's tests.
__all__ = ["caller_templates", "caller_world", "caller_world_and_url", "client", "database_url", "gateway", "settings"]

PUBLIC_AND_OWN = {
    "providers": "providers { slug name services eligibility { minAge crimeCategories } }",
    "viewer": "viewer { organisation kind scopes roles clientId }",
}
HUB_TASK = "id reference provider status version requestedAt overdue"
PROVIDER_TASK = (
    "id reference status version viewedAt overdue"
    " victim { fields givenName familyName phone safeContact { safePhone } }"
    " consent { state dataCategories } contactAttempts { method result }"
)


def _fields(caller: str, world: CallerWorld) -> dict[str, str]:
    """The root fields `caller` may read, each with a selection that reaches its relations."""
    first, last = world.periods
    ids = world.ids
    by_caller = {
        "hub": {
            "referral": f'referral(id: "{ids["referral"]}") {{ id reference tasks {{ {HUB_TASK} }} '
            "case { crimeCategory needs } victim { givenName familyName } consents { id providers withheldReason } }",
            "referrals": f"referrals(first: 5) {{ items {{ id reference tasks {{ {HUB_TASK} }} "
            "case { crimeCategory } victim { givenName } consents { id dataCategories } } nextCursor }",
            "task": f'task(id: "{ids["cpn-task"]}") {{ {HUB_TASK} }}',
            "overdueTasks": f"overdueTasks {{ items {{ {HUB_TASK} }} nextCursor }}",
            "intakeQueue": "intakeQueue { items { confirmationReference status givenName familyName } nextCursor }",
        },
        "commissioner": {
            "monitoring": f'monitoring(firstPeriod: "{first}", lastPeriod: "{last}") {{ periods rows {{ period '
            "providerSlug volumes { received { value suppressed } accepted { value suppressed } } } }",
            "quarterlyReturn": f'quarterlyReturn(period: "{last}") {{ period lines {{ providerSlug '
            "referred { value suppressed } supported { value suppressed } } }",
            "restorativeJusticeMonitoring": f'restorativeJusticeMonitoring(firstPeriod: "{first}", lastPeriod: '
            f'"{last}") {{ period casesReferred {{ value suppressed }} harmedSatisfied {{ value suppressed }} }}',
            "grants": "grants { reference providerSlug amountPence targets { measure value } }",
        },
        "provider": {
            "task": f'task(id: "{ids["cpn-task"]}") {{ {PROVIDER_TASK} }}',
            "inbox": f"inbox {{ items {{ {PROVIDER_TASK} }} nextCursor }}",
            "overdueTasks": f"overdueTasks {{ items {{ {PROVIDER_TASK} }} nextCursor }}",
        },
        "rj-coordinator": {
            "rjCases": "rjCases { items { id reference stage leadFacilitatorId } nextCursor }",
            "rjCase": f'rjCase(id: "{ids["rj-case"]}") {{ case {{ reference stage }} '
            "parties { role givenName phone } conferences { id } }",
            "rjCaseload": f'rjCaseload(facilitatorId: "{ids["facilitator"]}") {{ role case {{ reference }} }}',
            "rjFacilitators": "rjFacilitators { id homeAgency accreditedToday }",
            "rjFacilitatorCandidates": "rjFacilitatorCandidates { userId email }",
            "rjCaseForTask": f'rjCaseForTask(taskId: "{ids["rj-task"]}") {{ reference taskId }}',
            "rjCaseByReference": 'rjCaseByReference(reference: "RJ-2026-000001") { id riskLevel }',
            "inbox": "inbox { items { id status victim { givenName } consent { state } } nextCursor }",
            "task": f'task(id: "{ids["rj-task"]}") {{ id status contactAttempts {{ method }} }}',
        },
    }
    return {**PUBLIC_AND_OWN, **by_caller[caller]}


async def _answer(gateway: Gateway, caller: str, selections: dict[str, str]) -> dict[str, Any]:
    response = await gateway.raw(caller, "query { " + " ".join(f"{a}: {s}" for a, s in selections.items()) + " }")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _pair_failures(gateway: Gateway, world: CallerWorld, caller: str) -> tuple[int, list[str]]:
    fields = _fields(caller, world)
    alone = {}
    for name, selection in fields.items():
        # Twice: a provider's first read of a task records that it was viewed, which the next answer shows.
        await _answer(gateway, caller, {"a": selection})
        body = await _answer(gateway, caller, {"a": selection})
        assert "errors" not in body, (name, body)
        alone[name] = body["data"]["a"]
    failures, tried = [], 0
    for one, other in itertools.combinations_with_replacement(fields, 2):
        tried += 1
        body = await _answer(gateway, caller, {"a": fields[one], "b": fields[other]})
        if "errors" in body or body["data"] != {"a": alone[one], "b": alone[other]}:
            failures.append(f"{one} + {other}: {body.get('errors') or 'answers differ from the fields alone'}")
    return tried, failures


async def test_the_hub_gets_every_pair_of_its_root_fields_answered(gateway: Gateway, caller_world: CallerWorld) -> None:
    # Given the Hub's referral, tasks and a self-referral waiting for triage
    # When the Hub asks for every pair of the root fields it may read in one document
    tried, failures = await _pair_failures(gateway, caller_world, "hub")

    # Then every pair answers, each field as it does alone
    assert (tried, failures) == (28, [])


async def test_the_commissioner_gets_every_pair_of_its_root_fields_answered(
    gateway: Gateway, caller_world: CallerWorld
) -> None:
    tried, failures = await _pair_failures(gateway, caller_world, "commissioner")

    assert (tried, failures) == (21, [])


async def test_a_provider_gets_every_pair_of_its_root_fields_answered(
    gateway: Gateway, caller_world: CallerWorld
) -> None:
    tried, failures = await _pair_failures(gateway, caller_world, "provider")

    assert (tried, failures) == (15, [])


async def test_the_rj_coordinator_gets_every_pair_of_its_root_fields_answered(
    gateway: Gateway, caller_world: CallerWorld
) -> None:
    tried, failures = await _pair_failures(gateway, caller_world, "rj-coordinator")

    assert (tried, failures) == (66, [])
