"""Paging for every list: an opaque cursor over row ids, and a page size the caller must keep within bounds.

Both are refused, not repaired: a `first` outside 1 to MAX_PAGE_SIZE, or an `after` this gateway did not give
out, is a caller's mistake, and quietly answering another page (the start again, one item) hides it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Protocol

from gateway.errors import ValidationFailed
from gateway.kit import MAX_PAGE_SIZE

# The largest id a database column holds (a signed 64-bit integer); a larger one is no row of ours.
MAX_ROW_ID = 2**63 - 1
PAGE_SIZE_MESSAGE = f"`first` must be between 1 and {MAX_PAGE_SIZE}."
CURSOR_MESSAGE = "`after` is not a cursor this list gave out; use a `nextCursor` from the previous page, or none."


class HasId(Protocol):
    @property
    def id(self) -> int | None: ...


def encode_cursor(row_id: int) -> str:
    """The opaque cursor that continues after this row."""
    return base64.urlsafe_b64encode(f"id:{row_id}".encode()).decode()


def decode_cursor(cursor: str | None) -> int | None:
    """The row id a cursor stands for (None: from the start); a cursor that is not one of ours is refused."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError, binascii.Error):
        raise ValidationFailed(CURSOR_MESSAGE) from None
    prefix, _, number = text.partition(":")
    # Only the exact text encode_cursor makes: no sign, no leading zero, no padding left out or added.
    if prefix != "id" or not number.isascii() or not number.isdigit() or encode_cursor(int(number)) != cursor:
        raise ValidationFailed(CURSOR_MESSAGE)
    row_id = int(number)
    if row_id > MAX_ROW_ID:
        raise ValidationFailed(CURSOR_MESSAGE)
    return row_id


def page_size(first: int) -> int:
    """`first` as the page size, refused outside 1 to MAX_PAGE_SIZE."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise ValidationFailed(PAGE_SIZE_MESSAGE)
    return first


def next_cursor(rows: Sequence[HasId], limit: int) -> str | None:
    """The cursor after a full page's last row; None when the page was short, so the list has ended."""
    return encode_cursor(int(rows[-1].id or 0)) if rows and len(rows) == limit else None
