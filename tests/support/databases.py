"""Databases for every test: a fresh, migrated database per test on SQLite and on PostgreSQL, or a private copy of
a prepared world built once per session."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from gateway import migrate
from gateway.app import create_app
from gateway.db import AsyncSession, create_engine, create_session_factory
from gateway.settings import Settings
from tests.support.postgres_cluster import PostgresCluster, PostgresUnavailable

DATABASES = ("sqlite", "postgresql")
TEMPLATE_DATABASE = "gateway_template"
_database_numbers = itertools.count()
W = TypeVar("W")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster.start()
    except PostgresUnavailable as reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the PostgreSQL leg must run in CI: {reason}")
        pytest.skip(f"PostgreSQL leg skipped: {reason}")
    try:
        yield cluster
    finally:
        cluster.stop()


async def _admin_execute(cluster: PostgresCluster, *statements: str) -> None:
    connection = await asyncpg.connect(cluster.admin_dsn)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_template(postgres_cluster: PostgresCluster) -> PostgresCluster:
    """A database migrated to head once, copied for each test by CREATE DATABASE ... TEMPLATE."""
    asyncio.run(_admin_execute(postgres_cluster, f"CREATE DATABASE {TEMPLATE_DATABASE}"))
    migrate.upgrade(postgres_cluster.url(TEMPLATE_DATABASE))
    return postgres_cluster


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=DATABASES)
def database_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.contextmanager
def _private_postgres_database(cluster: PostgresCluster, prefix: str, template: str | None) -> Iterator[str]:
    name = f"{prefix}_{next(_database_numbers)}_{os.getpid()}"
    copy_of = f" TEMPLATE {template}" if template else ""
    asyncio.run(_admin_execute(cluster, f"CREATE DATABASE {name}{copy_of}"))
    try:
        yield cluster.url(name)
    finally:
        asyncio.run(_admin_execute(cluster, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def empty_database_url(database_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database with no tables at all, for migration tests."""
    if database_kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    with _private_postgres_database(request.getfixturevalue("postgres_cluster"), "empty", None) as url:
        yield url


@contextlib.contextmanager
def database_copy(
    database_kind: str, request: pytest.FixtureRequest, tmp_path: Path, *, sqlite_file: Path, postgres_database: str
) -> Iterator[str]:
    """A private copy of a prepared database: a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL."""
    if database_kind == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(sqlite_file, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_template")
    with _private_postgres_database(cluster, "test", postgres_database) as url:
        yield url


def prepared_template(
    database_kind: str, request: pytest.FixtureRequest, name: str, prepare: Callable[[str], None]
) -> tuple[Path, str]:
    """A template made once per session from the migrated one by `prepare(url)`: (SQLite file, PostgreSQL name)."""
    # Unique per call: two test packages may each build a template from the same recipe.
    name = f"{name}_{next(_database_numbers)}"
    if database_kind == "sqlite":
        base: Path = request.getfixturevalue("sqlite_template")
        path = base.with_name(f"{name}.sqlite3")
        shutil.copyfile(base, path)
        prepare(f"sqlite+aiosqlite:///{path}")
        return path, ""
    cluster: PostgresCluster = request.getfixturevalue("postgres_template")
    asyncio.run(_admin_execute(cluster, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DATABASE}"))
    prepare(cluster.url(name))
    return Path(), name


@contextlib.contextmanager
def world_database(
    database_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    templates: dict[str, tuple[Path, str, W]],
    name: str,
    build: Callable[[str], W],
) -> Iterator[tuple[str, W]]:
    """A private copy of a world `build(url)` prepared once per session and database kind, with what it returned.

    `templates` is the caller's session-scoped cache, one per kind of world.
    """
    if database_kind not in templates:
        built: list[W] = []
        sqlite_file, postgres_name = prepared_template(
            database_kind, request, name, lambda url: built.append(build(url))
        )
        templates[database_kind] = (sqlite_file, postgres_name, built[0])
    sqlite_file, postgres_name, made = templates[database_kind]
    with database_copy(
        database_kind, request, tmp_path, sqlite_file=sqlite_file, postgres_database=postgres_name
    ) as url:
        yield url, made


@pytest.fixture
def database_url(database_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database migrated to head, private to this test."""
    sqlite_file = request.getfixturevalue("sqlite_template") if database_kind == "sqlite" else Path()
    with database_copy(
        database_kind, request, tmp_path, sqlite_file=sqlite_file, postgres_database=TEMPLATE_DATABASE
    ) as url:
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    # No notifications dispatcher in a served app's lifespan: the tests that want one (tests/notifications) ask.
    return Settings(database_url=database_url, dispatch_in_serve=False)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    try:
        yield application
    finally:
        # httpx's ASGI transport runs no lifespan: close what it would have closed.
        if application.state.compiled_reads is not None:
            await application.state.compiled_reads.close()
        await application.state.engine.dispose()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http
