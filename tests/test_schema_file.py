"""schema.graphql is what the code exports; CI fails when someone changes one without the other."""

from __future__ import annotations

from pathlib import Path

from gateway.schema import export_sdl

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_checked_in_schema_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == export_sdl(), "run `gateway export-schema > schema.graphql`"
