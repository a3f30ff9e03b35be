"""A field the caller may not read, asked for inside a list beside relations that read the database, is refused
at its path: the rest of the answer comes back, and the request's audit rows commit.

graphql-core cancels a field's pending siblings when an error reaches a non-null parent, and Strawberry cancels
a dataloader batch once nobody awaits it. A database call cancelled half way left the session unusable, the
commit failed, and the whole answer was `Unexpected error.`. Every case runs on both databases and executors.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from gateway.audit.models import AuditEntry
from gateway.audit.service import verify_chain
from gateway.db import create_engine, create_session_factory
from gateway.settings import Settings
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

FORBIDDEN = "You are not allowed to do that."
# The Hub may read referrals but not what a provider sees of a task: its victim view, consent standing and
# contact attempts need tasks:read. contactAttempts is a non-null list, so its refusal nulls the nearest nullable
# parent, and graphql-core cancels that parent's other relations while their queries run.
HUB_VICTIM = "victim { givenName familyName }"
HUB_CONSENTS = "consents { id providers withheldReason }"


def _referral(world: CallerWorld) -> str:
    return (
        f'referral(id: "{world.ids["referral"]}") {{ id tasks {{ id contactAttempts {{ id }} }} {HUB_VICTIM} '
        f"{HUB_CONSENTS} case {{ needs }} }}"
    )


def _hub_referral(world: CallerWorld) -> dict[str, Any]:
    return {
        "id": world.ids["referral"],
        "victim": {"givenName": "Alex", "familyName": "Example"},
        "consents": [{"id": "1", "providers": ["cpn", "rj-hub"], "withheldReason": None}],
    }


CASES: dict[str, Any] = {
    "a non-null forbidden list nulls its referral": (
        lambda w: "{ " + _referral(w) + " }",
        lambda w: {"referral": None},
        [["referral", "tasks", 0, "contactAttempts"]],
        False,
    ),
    "beside another root field reading the same victim": (
        lambda w: "{ " + _referral(w) + f" referrals {{ items {{ id {HUB_VICTIM} {HUB_CONSENTS} }} }} }}",
        lambda w: {"referral": None, "referrals": {"items": [_hub_referral(w)]}},
        [["referral", "tasks", 0, "contactAttempts"]],
        True,
    ),
    "nullable forbidden fields in every item of a list": (
        lambda w: (
            f"{{ referrals {{ items {{ id {HUB_VICTIM} {HUB_CONSENTS} "
            "tasks { id victim { givenName } consent { state } } } } }"
        ),
        lambda w: {
            "referrals": {
                "items": [
                    {
                        **_hub_referral(w),
                        "tasks": [
                            {"id": w.ids["cpn-task"], "victim": None, "consent": None},
                            {"id": w.ids["rj-task"], "victim": None, "consent": None},
                        ],
                    }
                ]
            }
        },
        [["referrals", "items", 0, "tasks", index, field] for index in (0, 1) for field in ("consent", "victim")],
        True,
    ),
    "a forbidden root field beside a list of referrals": (
        lambda w: f"{{ a: referrals {{ items {{ id {HUB_VICTIM} {HUB_CONSENTS} }} }} b: inbox {{ items {{ id }} }} }}",
        lambda w: None,  # inbox is non-null, so its refusal nulls the whole answer
        [["b"]],
        False,
    ),
}


async def _audit_rows(settings: Settings) -> tuple[int, int | None]:
    """How many audit rows there are, and the first broken link of their chain (None when it holds)."""
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            count = (await db.exec(select(func.count()).select_from(AuditEntry))).one()
            return int(count), await verify_chain(db)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("case", CASES)
async def test_the_hub_gets_the_data_and_a_forbidden_error_at_the_refused_path(
    gateway: Gateway, caller_world: CallerWorld, settings: Settings, case: str
) -> None:
    document, expected, refused_paths, shows_a_victim = CASES[case]
    rows_before, _ = await _audit_rows(settings)

    # When the Hub asks for fields it may not read inside lists, beside relations that read the database
    body = await gateway.gql("hub", document(caller_world))

    # Then the answer is the data it may see, with `forbidden` at each refused path and nothing unexpected
    assert body["data"] == expected(caller_world)
    errors = [(e["message"], e.get("extensions", {}).get("code")) for e in body["errors"]]
    assert errors == [(FORBIDDEN, "forbidden")] * len(errors)
    assert sorted(e["path"] for e in body["errors"]) == sorted(refused_paths)

    # And the reads that ran are logged: the request's audit rows committed, the chain intact
    rows_after, broken = await _audit_rows(settings)
    assert broken is None
    if shows_a_victim:
        assert rows_after > rows_before
