"""Migrations go up, down to base and up again, and agree with the models, on both databases."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, inspect

from gateway import migrate
from gateway.db import create_engine, metadata
from gateway.models import import_all_models


async def _tables_and_revision(url: str) -> tuple[set[str], str | None]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        return tables - {"alembic_version"}, await migrate.current_revision(engine)
    finally:
        await engine.dispose()


async def _differences(url: str, target: MetaData = metadata) -> list[Any]:
    import_all_models()
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), target)
            )
    finally:
        await engine.dispose()


def test_upgrade_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    import_all_models()
    head = migrate.head_revision(empty_database_url)

    migrate.upgrade(empty_database_url)
    tables, revision = asyncio.run(_tables_and_revision(empty_database_url))
    assert revision == head
    assert tables == set(metadata.tables)

    migrate.downgrade(empty_database_url, "base")
    tables, revision = asyncio.run(_tables_and_revision(empty_database_url))
    assert (tables, revision) == (set(), None)

    migrate.upgrade(empty_database_url)
    tables, revision = asyncio.run(_tables_and_revision(empty_database_url))
    assert (tables, revision) == (set(metadata.tables), head)


def test_models_and_migrations_agree(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)

    assert asyncio.run(_differences(empty_database_url)) == []


def test_every_revision_is_dated_and_reversible() -> None:
    for path in sorted(migrate.MIGRATIONS_DIR.joinpath("versions").glob("*.py")):
        name = path.name
        assert name[:4].isdigit() and name[4] == "_" and name[7] == "_", f"{name} is not dated YYYY_MM_DD_..."
        source = path.read_text()
        downgrade_body = source.split("def downgrade() -> None:", 1)[1]
        assert downgrade_body.strip() not in {"", "pass"}, f"{name} has no downgrade"


def test_the_agreement_check_notices_a_table_missing_from_the_migrations(empty_database_url: str) -> None:
    import_all_models()
    migrate.upgrade(empty_database_url)
    drifted = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    Table("unmigrated", drifted, Column("id", Integer, primary_key=True))

    differences = asyncio.run(_differences(empty_database_url, drifted))

    assert [(kind, table.name) for kind, table in differences] == [("add_table", "unmigrated")]
