"""What every `gateway` subcommand shares: settings read once, async work run, refusals shown as CLI errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click

from gateway.db import AsyncSession, create_engine, create_session_factory
from gateway.settings import ConfigurationError, Settings, load_settings

T = TypeVar("T")


def command_settings() -> Settings:
    """The settings from the environment; a bad configuration is a clear CLI error, not a traceback."""
    try:
        return load_settings()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error


def run_with_settings(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Run one async piece of work with the settings, to completion."""
    return asyncio.run(work(command_settings()))


async def with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run work with a session on its own engine, disposed however the work ends."""
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            return await work(db)
    finally:
        await engine.dispose()


def in_transaction(
    work: Callable[[AsyncSession, Settings], Awaitable[T]],
    *,
    refusals: type[Exception],
    describe: Callable[[Any], str] = str,
) -> T:
    """Run one change in one transaction on its own engine; a refusal is a clear CLI error and changes nothing.

    `refusals` is the domain's refusal type and `describe` how it is worded for the operator (never a value they
    typed, since the domain's messages never repeat one).
    """
    settings = command_settings()

    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with create_session_factory(engine)() as db, db.begin():
                return await work(db, settings)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except refusals as refusal:
        raise click.ClickException(describe(refusal)) from None
