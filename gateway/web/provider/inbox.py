"""The provider's inbox: its organisation's tasks, filtered, sorted and paged by GET parameters only.

The parameters carry codes (statuses, overdue, the sort and a page number), never anything about a person; a
value that is none of the codes is answered 400 with the GOV.UK error summary, never a 500.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.responses import Response

from gateway.clock import utc_now
from gateway.referrals import service
from gateway.referrals.models import OPEN_STATUSES, TaskStatus
from gateway.referrals.service import InboxOrder
from gateway.referrals.service.reads import MAX_INBOX_OFFSET
from gateway.web.forms import FormErrors
from gateway.web.provider.common import STATUS_LABELS, STATUS_TAGS, accept_limit, first_contact_limit
from gateway.web.visit import Visit

PAGE_SIZE = 20
MAX_PAGE = MAX_INBOX_OFFSET // PAGE_SIZE + 1
# The statuses a provider can filter by: a draft has not been sent, so to a provider it never exists.
FILTER_STATUSES = tuple(status for status in TaskStatus if status is not TaskStatus.DRAFT)
_PAGE_NUMBER = re.compile(r"[0-9]{1,6}")
_ORDERS = {"asc": False, "desc": True}


@dataclass
class InboxQuery:
    statuses: list[TaskStatus] = field(default_factory=list)
    overdue_only: bool = False
    order: InboxOrder = InboxOrder.DUE
    descending: bool = False
    page: int = 1

    def link(self, **changes: Any) -> str:
        """The inbox's URL for these filters with `changes` (a new sort starts again at page 1)."""
        values = {
            "status": [s.value for s in self.statuses],
            "overdue": "yes" if self.overdue_only else None,
            "sort": self.order.value,
            "order": "desc" if self.descending else "asc",
            "page": self.page,
        } | changes
        pairs = [(k, v) for k, v in values.items() if v is not None and not isinstance(v, list)]
        pairs += [("status", s) for s in values["status"]]
        if values["page"] == 1:
            pairs = [(k, v) for k, v in pairs if k != "page"]
        return "/portal/inbox?" + urlencode(pairs)

    def sort_link(self, order: InboxOrder) -> str:
        descending = not self.descending if order is self.order else False
        return self.link(sort=order.value, order="desc" if descending else "asc", page=1)

    def aria_sort(self, order: InboxOrder) -> str:
        if order is not self.order:
            return "none"
        return "descending" if self.descending else "ascending"


def parse_inbox_query(params: QueryParams, errors: FormErrors) -> InboxQuery:
    """The inbox's filters from its URL; a value that is not one of the codes is an error at its field."""
    query = InboxQuery()
    for value in params.getlist("status")[: len(FILTER_STATUSES) + 1]:
        try:
            status = TaskStatus(value[:40])
        except ValueError:
            status = TaskStatus.DRAFT
        if status not in FILTER_STATUSES:
            errors.add("status", "Select statuses from the list")
        elif status not in query.statuses:
            query.statuses.append(status)
    overdue = params.get("overdue", "")[:10]
    if overdue not in ("", "yes"):
        errors.add("overdue", "Select overdue tasks only, or leave it unticked")
    query.overdue_only = overdue == "yes"
    sort = params.get("sort", InboxOrder.DUE.value)[:20]
    order = params.get("order", "asc")[:10]
    if sort not in {o.value for o in InboxOrder} or order not in _ORDERS:
        errors.add("sort", "Sort the inbox by a column heading")
    else:
        query.order, query.descending = InboxOrder(sort), _ORDERS[order]
    page = params.get("page", "1")[:10]
    if _PAGE_NUMBER.fullmatch(page) is None or not 1 <= int(page) <= MAX_PAGE:
        errors.add("page", "Choose a page from the list")
    else:
        query.page = int(page)
    return query


def _next_due(task: Any) -> Any:
    """The limit the inbox sorts by "due" (the service's next_due_at, read from one row)."""
    if task.status == TaskStatus.REQUESTED.value:
        return task.accept_due_at
    if task.status in OPEN_STATUSES and task.first_contact_at is None:
        return task.first_contact_due_at
    return None


def _row(task: Any, now: Any) -> dict[str, Any]:
    return {
        "id": task.id,
        "reference": task.reference,
        "status": STATUS_LABELS.get(task.status, task.status),
        "status_tag": STATUS_TAGS.get(task.status, ""),
        "received": task.requested_at,
        "due": _next_due(task),
        "accept": accept_limit(task, now),
        "first_contact": first_contact_limit(task, now),
        "overdue": bool(service.overdue_reasons(task, now=now)),
    }


async def inbox_page(visit: Visit) -> Response:
    errors = FormErrors()
    query = parse_inbox_query(visit.request.query_params, errors)
    status_items = [
        {"value": s.value, "text": STATUS_LABELS[s], "checked": s in query.statuses} for s in FILTER_STATUSES
    ]
    context: dict[str, Any] = {"query": query, "status_items": status_items, "InboxOrder": InboxOrder}
    if errors:
        return visit.render("provider/inbox.html", status_code=400, title="Inbox", errors=errors, **context)
    now = utc_now()
    page = await visit.read(
        lambda db: service.list_inbox_page(
            db=db,
            actor=visit.principal,
            statuses=query.statuses or None,
            overdue_only=query.overdue_only,
            order=query.order,
            descending=query.descending,
            offset=(query.page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
            now=now,
        )
    )
    pages = max(1, math.ceil(page.total / PAGE_SIZE))
    pagination: dict[str, Any] = {}
    if query.page > 1:
        back = min(query.page - 1, pages)  # from beyond the end (the list shrank), back to its last page
        pagination["previous"] = {"href": query.link(page=back), "labelText": f"{back} of {pages}"}
    if query.page < pages:
        pagination["next"] = {"href": query.link(page=query.page + 1), "labelText": f"{query.page + 1} of {pages}"}
    return visit.render(
        "provider/inbox.html",
        title="Inbox",
        tasks=[_row(task, now) for task in page.tasks],
        total=page.total,
        pages=pages,
        pagination=pagination,
        **context,
    )
