"""What queries cost: every list counts its items, reports count the quarters they cover, and the pages the gateway
documents still fit the limit.

Before, a list without a page size (a task's contact attempts, a referral's tasks, a page's items when `first` was
left to its default) counted as one item, and a report as one field: fifteen twelve-quarter monitoring reports fit
in one request.
"""

from __future__ import annotations

import time

import pytest
from graphql import GraphQLField, GraphQLObjectType, GraphQLSchema, get_nullable_type, is_list_type, parse
from strawberry import Schema

from bench.inbox_benchmark import INBOX_QUERY
from gateway.graphql.cost import LIST_SIZES, MAX_COST, REPORT_COST_PER_QUARTER
from gateway.graphql.limits import limit_errors, measure_operations
from gateway.schema import build_schema

# Every field of a task a provider may read, a page of fifty: the fullest inbox page there is.
FULLEST_INBOX_PAGE = """{ inbox(first: 50) { items { id reference provider status statusReason version replacesTaskId
  safeguardingOverride requestedAt acceptDueAt firstContactDueAt acceptedAt viewedAt firstContactAt appointmentAt
  waitlisted closedAt overdue
  victim { redacted redactionReason sharedUnderSafeguardingOverride fields givenName familyName dateOfBirth age address
    postcode phone email safeContact { safePhone safeTimes voicemailSafe lettersSafe perpetratorSharesAddress }
    guardian { name relationship phone email } language interpreterNeeded crimeCategory crimeReference
    domesticAbuseRisk priorityFlags { mostSeriousCrime persistentlyTargeted vulnerableOrIntimidated } needs
    assessmentNotes }
  consent { state givenBy method givenAt expiresAt dataCategories }
  contactAttempts { id attemptedAt method result } } nextCursor } }"""


def monitoring(first: str, last: str, alias: str = "") -> str:
    return f'{alias}monitoring(firstPeriod: "{first}", lastPeriod: "{last}") {{ rows {{ providerSlug }} }}'


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    built: Schema = build_schema(production=True)
    return built._schema


def cost(schema: GraphQLSchema, query: str) -> int:
    [(_, measure)] = measure_operations(schema, parse(query), deadline=time.monotonic() + 10)
    return measure.cost


def refusals(schema: GraphQLSchema, query: str) -> list[str]:
    return [e.message for e in limit_errors(schema, parse(query), deadline=time.monotonic() + 10)]


def test_the_documented_inbox_page_and_the_fullest_one_fit_the_limit(schema: GraphQLSchema) -> None:
    # 50 x (fields of a task, its victim and consent, and 5 contact attempts of 3 fields)
    assert cost(schema, INBOX_QUERY) == 1 + 50 * (1 + 5 + 6 + 2 + 1 + 5 * 3)
    assert cost(schema, FULLEST_INBOX_PAGE) == 4151
    assert refusals(schema, INBOX_QUERY) == refusals(schema, FULLEST_INBOX_PAGE) == []


def test_the_largest_page_with_every_field_a_provider_may_read_fits_the_limit(schema: GraphQLSchema) -> None:
    # The README documents pages of up to 100 and this selection; before, they could not be used together (8,301).
    largest = FULLEST_INBOX_PAGE.replace("inbox(first: 50)", "inbox(first: 100)")

    assert cost(schema, largest) == 1 + 100 * 83
    assert refusals(schema, largest) == []


def test_lists_without_a_page_size_count_the_items_they_are_expected_to_hold(schema: GraphQLSchema) -> None:
    # A page's items are counted by its size: the default 20 when `first` is not given.
    assert cost(schema, "{ inbox { items { id } } }") == 1 + 20 * (1 + 1)
    # A task's contact attempts count five each.
    assert cost(schema, '{ task(id: "1") { contactAttempts { id method } } }') == 1 + (1 + 5 * 2)
    # A list that declares no size counts fifty.
    assert cost(schema, "{ rjFacilitators { id } }") == 1 + 50 * 1
    # Lists of lists multiply: 100 referrals x 5 tasks x 5 attempts.
    nested = "{ referrals(first: 100) { items { tasks { contactAttempts { id method result attemptedAt } } } } }"
    assert cost(schema, nested) == 1 + 100 * (1 + (1 + 5 * (1 + 5 * 4)))
    assert refusals(schema, nested) == ["The query is too expensive: cost 10701 exceeds 10000."]


@pytest.mark.parametrize(
    ("first", "counted"),
    [("0", 1), ("7", 7), ("100", 100), ("100000", 100), ("9" * 5000, 100), ("$first", 100), ('"x"', 100)],
)
def test_a_page_counts_what_the_service_would_return(schema: GraphQLSchema, first: str, counted: int) -> None:
    # A page outside 1..100 is refused when the field runs, so it never does more work than the largest page; a
    # variable is not read during validation, so it counts as the largest.
    query = f"query($first: Int) {{ inbox(first: {first}) {{ items {{ id }} }} }}"

    assert cost(schema, query) == 1 + counted * 2


def test_reports_cost_by_the_quarters_they_cover(schema: GraphQLSchema) -> None:
    rows = 1 + 1  # rows { providerSlug }: the report's own rows, counted once

    assert cost(schema, "{ " + monitoring("2026-Q1", "2026-Q1") + " }") == 1 + 300 + rows
    assert cost(schema, "{ " + monitoring("2024-Q1", "2026-Q4") + " }") == 1 + 12 * 300 + rows
    assert cost(schema, "{ " + monitoring("2026-Q4", "2026-Q1") + " }") == 1 + 300 + rows  # refused by the service
    variables = "query($a: String!, $b: String!) { monitoring(firstPeriod: $a, lastPeriod: $b) { periods } }"
    assert cost(schema, variables) == 1 + 12 * 300 + 1
    assert cost(schema, '{ quarterlyReturn(period: "2026-Q1") { lines { providerSlug } } }') == 1 + 300 + 2
    rj = '{ restorativeJusticeMonitoring(firstPeriod: "2026-Q1", lastPeriod: "2026-Q4") { period } }'
    assert cost(schema, rj) == 1 + 4 * 100 + 1


def test_a_request_holds_two_twelve_quarter_monitoring_reports_but_not_three(schema: GraphQLSchema) -> None:
    reports = [monitoring("2024-Q1", "2026-Q4", f"r{i}: ") for i in range(15)]

    assert refusals(schema, "{ " + " ".join(reports[:2]) + " }") == []
    assert refusals(schema, "{ " + " ".join(reports[:3]) + " }") == [
        "The query is too expensive: cost 10809 exceeds 10000."
    ]
    assert refusals(schema, "{ " + " ".join(reports) + " }") == [
        "The query is too expensive: cost 54045 exceeds 10000."
    ]


def test_a_full_twelve_quarter_monitoring_report_fits_the_limit(schema: GraphQLSchema) -> None:
    full = """{ monitoring(firstPeriod: "2024-Q1", lastPeriod: "2026-Q4") { firstPeriod lastPeriod periods
      suppressionThreshold rows { period providerSlug providerName
        volumes { received { value suppressed } accepted { value suppressed } rejected { value suppressed }
          rejectedByReason { category count { value suppressed } } cancelled { value suppressed }
          cancelledByReason { category count { value suppressed } } inProgress { value suppressed }
          completed { value suppressed } failed { value suppressed } }
        equality { statisticsDeclined { value suppressed } ageBand { category count { value suppressed } }
          sex { category count { value suppressed } } ethnicity { category count { value suppressed } }
          disability { category count { value suppressed } } } } } }"""

    assert refusals(schema, full) == []


def test_every_declared_size_and_report_names_a_field_of_the_schema(schema: GraphQLSchema) -> None:
    # A renamed field would otherwise lose its declared cost without a word.
    def field(coordinate: str) -> GraphQLField | None:
        type_name, field_name = coordinate.split(".")
        named = schema.get_type(type_name)
        return named.fields.get(field_name) if isinstance(named, GraphQLObjectType) else None

    lists = {c for c in LIST_SIZES if (f := field(c)) is not None and is_list_type(get_nullable_type(f.type))}
    reports = {c for c in REPORT_COST_PER_QUARTER if field(c) is not None}

    assert lists == set(LIST_SIZES)
    assert reports == set(REPORT_COST_PER_QUARTER)
    assert MAX_COST == 10_000
