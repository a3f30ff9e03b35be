"""What each field of a query costs: one, times the items of every list above it, plus the work of the reports.

Depth, alias and token limits bound the shape of a query; cost bounds the work it asks for. A page of 50 tasks,
each with its contact attempts, costs 50 x (fields per task + 5 x fields per attempt), so a query that fans out
too wide is refused before any resolver runs. The numbers are declared here once per field, by type and field
name, and gateway/graphql/limits.py adds them up in one pass over the document.

- A field with a page size (`first` or `limit`) multiplies what it selects by that size: the literal asked for,
  its default when not asked, or the largest page when it is a variable (validation runs before variables are
  read). The page's own list of items is then counted once: the size above already counts its items.
- Any other list multiplies what it selects by the items it is expected to hold (`LIST_SIZES`), or by
  `DEFAULT_LIST_SIZE` when it declares none.
- The reports (`REPORT_COST_PER_QUARTER`) run their statements whatever is selected, and more of them the more
  quarters are asked for: they cost that much per quarter, plus one per field selected inside them, where lists
  are counted once (their rows are the report's, already built).
"""

from __future__ import annotations

import re

from graphql import FieldNode, GraphQLField, IntValueNode, StringValueNode

from gateway.kit import MAX_PAGE_SIZE

# The largest page (MAX_PAGE_SIZE) of every field a provider may read costs 8,301: the documented page size must be
# usable with the documented selection, so the limit is twice the 5,000 it was, and the reports' costs doubled with
# it, so a request still holds at most two twelve-quarter monitoring reports.
MAX_COST = 10_000
PAGE_ARGUMENTS = ("first", "limit")
# A list without a page size that declares no size of its own.
DEFAULT_LIST_SIZE = 50
# The most items each list without a page size is expected to hold, by type and field.
LIST_SIZES = {
    "Query.providers": 10,  # the commissioned providers: five today
    "Referral.tasks": 5,  # one per provider the referral names
    "Referral.consents": 5,  # one or a few per referral
    # Services usually try three times before closing a task as not contactable; the inbox benchmark averages two.
    "Task.contactAttempts": 5,
    "Grant.targets": 10,  # three volume targets and one per outcome measure
    "RjCaseDetail.parties": 10,
    "RjCaseDetail.preparationMeetings": 10,
    "RjCaseDetail.interventions": 10,
    "RjCaseDetail.agreementActions": 10,
    "RjCaseDetail.conferences": 10,
    "RjConference.participants": 10,
}
# The reports: their cost per quarter asked for (`firstPeriod` to `lastPeriod`, or one `period`). A twelve-quarter
# monitoring report costs 3,600, so a request holds at most two of them.
REPORT_COST_PER_QUARTER = {
    "Query.monitoring": 300,
    "Query.quarterlyReturn": 300,
    "Query.restorativeJusticeMonitoring": 100,
}
# The most quarters a report covers (monitoring refuses more); a range given by variables is assumed this long.
MAX_QUARTERS = 12
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")


def page_size(field: FieldNode, definition: GraphQLField) -> int | None:
    """The page size a paged field asks for, or None for a field without one."""
    for name in PAGE_ARGUMENTS:
        if name in definition.args:
            break
    else:
        return None
    asked = next((argument.value for argument in field.arguments or () if argument.name.value == name), None)
    if asked is None:
        default = definition.args[name].default_value
        return _clamped(default) if isinstance(default, int) else MAX_PAGE_SIZE
    if isinstance(asked, IntValueNode) and len(asked.value) <= len(str(MAX_PAGE_SIZE)):
        return _clamped(int(asked.value))
    # A variable, or a literal the argument's type will refuse: assume the largest page a caller may ask for.
    return MAX_PAGE_SIZE


def report_cost(field: FieldNode, coordinate: str) -> int | None:
    """The work of a report field for the quarters it asks for, or None for a field that is not a report."""
    per_quarter = REPORT_COST_PER_QUARTER.get(coordinate)
    if per_quarter is None:
        return None
    values = {argument.name.value: argument.value for argument in field.arguments or ()}
    first, last = values.get("firstPeriod"), values.get("lastPeriod")
    if first is None and last is None:
        return per_quarter  # one quarter: `period`
    return per_quarter * _quarters(first, last)


def list_size(coordinate: str) -> int:
    """The items a list without a page size is expected to hold."""
    return LIST_SIZES.get(coordinate, DEFAULT_LIST_SIZE)


def _quarters(first: object, last: object) -> int:
    start, end = _quarter_number(first), _quarter_number(last)
    if start is None or end is None:
        return MAX_QUARTERS  # variables, or a period the report itself will refuse
    return max(1, min(end - start + 1, MAX_QUARTERS))


def _quarter_number(value: object) -> int | None:
    if not isinstance(value, StringValueNode):
        return None
    matched = _QUARTER.fullmatch(value.value)
    return int(matched[1]) * 4 + int(matched[2]) if matched else None


def _clamped(size: int) -> int:
    # A page outside 1..MAX_PAGE_SIZE is refused when the field runs (gateway/graphql/pagination.py), so a larger
    # `first` never does more work than the largest page.
    return max(1, min(size, MAX_PAGE_SIZE))
