"""Alembic, driven from the settings: upgrade, downgrade, and whether the database is at head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # env.py reads the URL from here; percent signs in passwords must be escaped for configparser.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision(database_url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def readiness_problem(engine: AsyncEngine, database_url: str) -> str | None:
    """None when the database answers and is at head; otherwise the reason, without secrets."""
    try:
        current = await current_revision(engine)
    except Exception as error:  # any driver failure means "not ready", named by its type only
        return f"database unreachable ({type(error).__name__})"
    head = head_revision(database_url)
    if current != head:
        return f"database at revision {current or 'none'}, code expects {head}; run `gateway db upgrade`"
    return None
