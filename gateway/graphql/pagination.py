"""Paging for every list: an opaque cursor over row ids, and the page size clamped to what services accept."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Protocol

from gateway.kit import MAX_PAGE_SIZE


class HasId(Protocol):
    @property
    def id(self) -> int | None: ...


def encode_cursor(row_id: int) -> str:
    """The opaque cursor that continues after this row."""
    return base64.urlsafe_b64encode(f"id:{row_id}".encode()).decode()


def decode_cursor(cursor: str | None) -> int | None:
    """The row id a cursor stands for; a cursor that is not one of ours starts from the beginning."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "id" and number.isdigit() else None


def page_size(first: int) -> int:
    """`first` brought into 1 to MAX_PAGE_SIZE: a caller asking for too many gets a full page, not an error."""
    return max(1, min(first, MAX_PAGE_SIZE))


def next_cursor(rows: Sequence[HasId], limit: int) -> str | None:
    """The cursor after a full page's last row; None when the page was short, so the list has ended."""
    return encode_cursor(int(rows[-1].id or 0)) if rows and len(rows) == limit else None
