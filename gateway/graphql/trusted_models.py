"""The table of trusted documents: the GraphQL operations integrators registered ahead, by their SHA-256."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = ["TrustedDocumentRow", "metadata"]

UTC_DATETIME = UTCDateTime()
# The text is held whole, so it is bounded: a request's body is at most GATEWAY_MAX_BODY_BYTES (256 KiB by default)
# and a document longer than that could never have been sent as a `query` either.
MAX_DOCUMENT_BYTES = 256 * 1024
MAX_NAME_LENGTH = 100


class TrustedDocumentRow(SQLModel, table=True):
    """A registered document: its text, by the lower-case hex SHA-256 of its UTF-8 bytes, for one client or any."""

    __tablename__ = "trusted_documents"

    id: str = Field(primary_key=True, max_length=64)
    document: str = Field(sa_type=sa.Text, nullable=False)
    # Null: any caller may run it. Otherwise only requests whose token was issued to this OAuth client.
    client_id: str | None = Field(default=None, max_length=64, foreign_key="oauth_clients.client_id", index=True)
    name: str = Field(max_length=MAX_NAME_LENGTH, nullable=False)
    registered_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
