"""Administering trusted documents: registering (all or none, checked as /graphql would), listing and revoking.

What `gateway documents` calls; the registry a server holds and how a request runs a document are in
gateway/graphql/trusted.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from graphql import DocumentNode, OperationDefinitionNode
from sqlmodel import col, select

from gateway.auth.models import OAuthClient
from gateway.clock import utc_now
from gateway.db import AsyncSession
from gateway.graphql.trusted import HEX_DIGEST, PREFIX, DocumentRules, document_hash, parse_document_id
from gateway.graphql.trusted_models import MAX_NAME_LENGTH, TrustedDocumentRow
from gateway.graphql.trusted_refusals import (
    BAD_REQUEST,
    CLIENT_CONFLICT,
    CLIENT_NOT_FOUND,
    ID_MISMATCH,
    NOT_FOUND,
    VALIDATION,
    DocumentRefused,
)

# -- registering, listing, revoking ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Submission:
    """A document to register: its text, a name, and the id the submitter computed, when they gave one."""

    text: str
    name: str | None = None
    expected_id: str | None = None


async def register_documents(
    *, db: AsyncSession, rules: DocumentRules, submissions: Sequence[Submission], client_id: str | None = None
) -> list[TrustedDocumentRow]:
    """Register every document or none: each must pass the /graphql checks; registering a live one again is a no-op,
    and a revoked one comes back with the new client and name."""
    if client_id is not None and await _client_pk(db, client_id) is None:
        raise DocumentRefused(CLIENT_NOT_FOUND)
    checked: dict[str, tuple[Submission, DocumentNode]] = {}
    for submission in submissions:
        hex_id = document_hash(submission.text)
        if submission.expected_id is not None and submission.expected_id != hex_id:
            raise DocumentRefused(ID_MISMATCH)
        if submission.name is not None and len(submission.name) > MAX_NAME_LENGTH:
            raise DocumentRefused(VALIDATION, f"A trusted document's name is at most {MAX_NAME_LENGTH} characters.")
        checked.setdefault(hex_id, (submission, rules.check(submission.text)))
    registered = []
    for hex_id, (submission, document) in checked.items():
        name = submission.name or _operation_names(document) or "anonymous"
        row = await db.get(TrustedDocumentRow, hex_id)
        if row is None:
            row = TrustedDocumentRow(id=hex_id, document=submission.text, client_id=client_id, name=name)
            db.add(row)
        elif row.revoked_at is not None:
            row.client_id, row.name, row.registered_at, row.revoked_at = client_id, name, utc_now(), None
            db.add(row)
        elif row.client_id != client_id:
            raise DocumentRefused(CLIENT_CONFLICT)
        registered.append(row)
    await db.flush()
    return registered


def manifest_submissions(manifest: object) -> list[Submission]:
    """The documents of a manifest: a JSON object of id to text (as persisted-operation tools emit, with or without
    the `sha256:` prefix), or Apollo's persisted-query manifest (`operations` with `id`, `name`, `body`)."""
    if isinstance(manifest, dict) and manifest.get("format") == "apollo-persisted-query-manifest":
        operations = manifest.get("operations")
        if not isinstance(operations, list):
            raise DocumentRefused(BAD_REQUEST, "The manifest's `operations` must be a list.")
        pairs: Iterable[tuple[object, object, object]] = (
            (item.get("id"), item.get("body"), item.get("name")) if isinstance(item, dict) else (None, None, None)
            for item in operations
        )
    elif isinstance(manifest, dict):
        pairs = ((key, value, None) for key, value in manifest.items())
    else:
        raise DocumentRefused(BAD_REQUEST, "A manifest is a JSON object of document ids to documents.")
    submissions = []
    for key, text, name in pairs:
        if not isinstance(key, str) or not isinstance(text, str) or not isinstance(name, str | None):
            raise DocumentRefused(BAD_REQUEST, "Every manifest entry needs a text id and a text document.")
        hex_id = key.removeprefix(PREFIX) if HEX_DIGEST.fullmatch(key.removeprefix(PREFIX)) else None
        if hex_id is None:
            raise DocumentRefused(
                BAD_REQUEST, "A manifest's ids are SHA-256 hex digests, optionally `sha256:`-prefixed."
            )
        submissions.append(Submission(text=text, name=name, expected_id=hex_id))
    return submissions


async def list_documents(*, db: AsyncSession) -> list[TrustedDocumentRow]:
    """Every registered document, live and revoked, oldest first."""
    found = await db.exec(
        select(TrustedDocumentRow).order_by(col(TrustedDocumentRow.registered_at), col(TrustedDocumentRow.id))
    )
    return list(found.all())


async def revoke_document(*, db: AsyncSession, document_id: str) -> TrustedDocumentRow:
    """Stop a document being run: requests naming it are refused once each server has refreshed (idempotent)."""
    row = await db.get(TrustedDocumentRow, parse_document_id(document_id))
    if row is None:
        raise DocumentRefused(NOT_FOUND, "No trusted document has that id.")
    if row.revoked_at is None:
        row.revoked_at = utc_now()
        db.add(row)
        await db.flush()
    return row


async def _client_pk(db: AsyncSession, client_id: str) -> int | None:
    found = await db.exec(select(OAuthClient.id).where(OAuthClient.client_id == client_id))
    return found.first()


def _operation_names(document: DocumentNode) -> str:
    names = [
        definition.name.value
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode) and definition.name is not None
    ]
    return ", ".join(names)[:MAX_NAME_LENGTH]


def manifest_from_json(text: str) -> list[Submission]:
    """The submissions of a manifest file's text."""
    try:
        return manifest_submissions(json.loads(text))
    except json.JSONDecodeError:
        raise DocumentRefused(BAD_REQUEST, "The manifest is not JSON.") from None
