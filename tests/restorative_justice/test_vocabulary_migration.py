"""Migration 0010 moves the free text stored before onto the RJ vocabularies, and names every facilitator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa

from gateway import migrate
from gateway.db import create_engine


async def _run(url: str, statements: list[tuple[str, dict[str, object]]]) -> list[list[tuple[object, ...]]]:
    engine = create_engine(url)
    answers = []
    try:
        async with engine.begin() as connection:
            for statement, parameters in statements:
                result = await connection.execute(sa.text(statement), parameters)
                answers.append([tuple(row) for row in result.all()] if result.returns_rows else [])
    finally:
        await engine.dispose()
    return answers


def test_free_text_is_mapped_onto_the_vocabularies_and_facilitators_are_named(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0009_notifications")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    asyncio.run(
        _run(
            empty_database_url,
            [
                (
                    "INSERT INTO organisations (id, slug, name, roles, active, created_at) "
                    "VALUES (1, 'rj-hub', 'RJ hub', '[]', :yes, :now)",
                    {"yes": True, "now": now},
                ),
                (
                    "INSERT INTO users (id, organisation_id, email, password_hash, roles, active, created_at) "
                    "VALUES (:id, 1, :email, '!', '[]', :yes, :now)",
                    {"id": 1, "email": "a@rj.example", "yes": True, "now": now},
                ),
                (
                    "INSERT INTO users (id, organisation_id, email, password_hash, roles, active, created_at) "
                    "VALUES (:id, 1, :email, '!', '[]', :yes, :now)",
                    {"id": 2, "email": "b@rj.example", "yes": True, "now": now},
                ),
                (
                    "INSERT INTO rj_facilitators (id, organisation_id, user_id, home_agency, accreditation_level, "
                    "accreditation_expires_on, created_at) VALUES (1, 1, 1, 'Probation Service', "
                    "'RJC accredited practitioner', '2030-01-01', :now)",
                    {"now": now},
                ),
                (
                    "INSERT INTO rj_facilitators (id, organisation_id, user_id, home_agency, accreditation_level, "
                    "accreditation_expires_on, created_at) VALUES (2, 1, 2, 'x', 'x', '2030-01-01', :now)",
                    {"now": now},
                ),
                (
                    "INSERT INTO rj_cases (id, reference, organisation_id, source, crime_category, sensitive, stage, "
                    "risk_level, created_by, created_at, updated_at) VALUES (1, 'RJ-2026-000001', 1, 'officer', "
                    "'violence', :no, 'assessment', ' Low ', 'user:1', :now, :now)",
                    {"no": False, "now": now},
                ),
                (
                    "INSERT INTO rj_cases (id, reference, organisation_id, source, crime_category, sensitive, stage, "
                    "risk_level, created_by, created_at, updated_at) VALUES (2, 'RJ-2026-000002', 1, 'officer', "
                    "'violence', :no, 'assessment', 'x', 'user:1', :now, :now)",
                    {"no": False, "now": now},
                ),
            ],
        )
    )
    migrate.upgrade(empty_database_url, "0010_rj_vocabularies")
    facilitators, cases = asyncio.run(
        _run(
            empty_database_url,
            [
                ("SELECT display_name, home_agency, accreditation_level FROM rj_facilitators ORDER BY id", {}),
                ("SELECT risk_level FROM rj_cases ORDER BY id", {}),
            ],
        )
    )
    assert facilitators == [
        ("a@rj.example", "probation-service", "accredited-practitioner"),
        ("b@rj.example", "other", "practitioner"),
    ]
    assert cases == [("low",), ("high",)]
    migrate.downgrade(empty_database_url, "0009_notifications")
