"""`gateway documents`: registering the GraphQL documents integrators run by id (gateway/graphql/trusted.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from gateway.console import in_transaction
from gateway.db import AsyncSession
from gateway.graphql import trusted, trusted_refusals, trusted_registry
from gateway.graphql.surface import MAX_TOKENS
from gateway.graphql.trusted_models import MAX_DOCUMENT_BYTES
from gateway.schema import build_schema
from gateway.settings import Settings

T = TypeVar("T")


def _in_transaction(work: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    return in_transaction(
        work, refusals=trusted_refusals.DocumentRefused, describe=lambda refused: f"{refused.code}: {refused.message}"
    )


def _rules(settings: Settings) -> trusted.DocumentRules:
    # The schema of the environment the documents will run in: production refuses introspection, as /graphql does.
    production = not settings.is_development
    schema = build_schema(production=production)
    return trusted.DocumentRules(schema._schema, production=production, max_tokens=MAX_TOKENS)


def _read_text(path: Path, position: int) -> str:
    data = path.read_bytes()
    if len(data) > MAX_DOCUMENT_BYTES:
        raise click.ClickException(
            f"{trusted_refusals.TOO_LARGE}: document {position} is over {MAX_DOCUMENT_BYTES} bytes."
        )
    try:
        # Exactly the file's text, byte for byte: the id is the hash of what the client will send.
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{trusted_refusals.NOT_TEXT}: document {position} is not UTF-8 text.") from None


@click.group()
def documents() -> None:
    """Trusted documents: GraphQL operations registered ahead and run by their `sha256:` id."""


@documents.command("register")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--client", "client_id", default=None, help="Only this OAuth client may run them (default: any).")
@click.option("--name", default=None, help="A label (default: the operation names).")
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A JSON manifest of id -> document, or Apollo's persisted-query manifest.",
)
def register(files: tuple[Path, ...], client_id: str | None, name: str | None, manifest: Path | None) -> None:
    """Register documents (all or none), each checked as /graphql checks it; print each `sha256:<hex>` id."""
    if not files and manifest is None:
        raise click.UsageError("give one or more FILEs, or --manifest FILE")
    submissions = [
        trusted_registry.Submission(text=_read_text(path, position), name=name or None)
        for position, path in enumerate(files, start=1)
    ]
    if manifest is not None:
        try:
            listed = trusted_registry.manifest_from_json(_read_text(manifest, len(files) + 1))
        except trusted_refusals.DocumentRefused as refused:
            raise click.ClickException(f"{refused.code}: {refused.message}") from refused
        submissions += [trusted_registry.Submission(s.text, name or s.name, s.expected_id) for s in listed]
    rows = _in_transaction(
        lambda db, settings: trusted_registry.register_documents(
            db=db, rules=_rules(settings), submissions=submissions, client_id=client_id
        )
    )
    for row in rows:
        click.echo(f"{trusted.PREFIX}{row.id}")


@documents.command("list")
def list_documents() -> None:
    """List every registered document: id, client (`*`: any), live or revoked, when registered, name."""
    rows = _in_transaction(lambda db, _: trusted_registry.list_documents(db=db))
    for row in rows:
        state = "live" if row.revoked_at is None else "revoked"
        click.echo(
            f"{trusted.PREFIX}{row.id}  {row.client_id or '*':<36}  {state:<7}  "
            f"{row.registered_at.isoformat(timespec='seconds')}  {row.name}"
        )


@documents.command("revoke")
@click.argument("document_id")
def revoke(document_id: str) -> None:
    """Revoke a document: running servers refuse it within GATEWAY_TRUSTED_DOCUMENTS_REFRESH_SECONDS."""
    row = _in_transaction(lambda db, _: trusted_registry.revoke_document(db=db, document_id=document_id))
    click.echo(f"revoked {trusted.PREFIX}{row.id}")
