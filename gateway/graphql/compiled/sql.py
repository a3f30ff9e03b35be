"""SQL text for a compiled read: values as GraphQL shows them, built by PostgreSQL inside `json_build_object`.

Each helper takes a SQL expression (text the compiler wrote itself: column references and parameters, never a
caller's value) and returns the expression that shows it the way the resolver path's serialisers do:
Strawberry's DateTime is Python's `isoformat()` of an aware UTC datetime (microseconds only when not zero), an ID is
the decimal text of the row id, an enum is its member's NAME.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


def quoted(text: str) -> str:
    """A SQL string literal of text the compiler chose (an enum value or name, a key); never a caller's value."""
    if not text.isascii() or "\\" in text:
        raise ValueError("only plain ASCII names are quoted into compiled SQL")
    return "'" + text.replace("'", "''") + "'"


def iso_datetime(expression: str) -> str:
    """`datetime.isoformat()` of a timestamptz in UTC: 2026-12-01T09:30:00+00:00, or .123456 before the offset.

    One to_char with the microseconds, then the fraction taken away when it is zero (the only '.' in the text)."""
    return (
        f"(replace(to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '')"
        " || '+00:00')"
    )


def iso_date(expression: str) -> str:
    return f"to_char({expression}, 'YYYY-MM-DD')"


def record_id(expression: str) -> str:
    return f"({expression})::text"


def enum_name(expression: str, kind: type[Enum]) -> str:
    """The member's NAME for a stored value; NULL for a value the enum does not know."""
    cases = " ".join(f"WHEN {quoted(str(member.value))} THEN {quoted(member.name)}" for member in kind)
    return f"CASE {expression} {cases} ELSE NULL END"


def enum_names_of_json_array(expression: str, kind: type[Enum]) -> str:
    """A JSON array of stored values shown as the members' NAMEs, in stored order."""
    return (
        f"(SELECT coalesce(json_agg({enum_name('item.value', kind)} ORDER BY item.position), '[]'::json)"
        f" FROM json_array_elements_text({expression}) WITH ORDINALITY AS item(value, position))"
    )


def text_array(values: Iterable[str]) -> str:
    """An ARRAY[...]::text[] literal of names the compiler chose."""
    return "ARRAY[" + ", ".join(quoted(value) for value in values) + "]::text[]"


def json_object(pairs: Iterable[tuple[str, str]]) -> str:
    """json_build_object of (response key, SQL expression) pairs, in the order the query selected them."""
    arguments = ", ".join(f"{quoted(key)}, {expression}" for key, expression in pairs)
    return f"json_build_object({arguments})"
