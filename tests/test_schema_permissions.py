"""Deny by default: every root field declares its permission, and only the provider directory is public."""

from __future__ import annotations

from strawberry.types.base import StrawberryObjectDefinition

from gateway.graphql.permissions import declared_permissions
from gateway.schema import build_schema

PUBLIC_FIELDS = {"Query.providers"}


def _root_fields() -> dict[str, list[str]]:
    schema = build_schema()
    declared: dict[str, list[str]] = {}
    for root in (schema.query, schema.mutation):
        if root is None:
            continue
        definition: StrawberryObjectDefinition = root.__strawberry_definition__  # type: ignore[attr-defined]
        for field in definition.fields:
            declared[f"{definition.name}.{field.graphql_name or field.name}"] = declared_permissions(
                list(field.permission_classes)
            )
    return declared


def test_every_root_field_declares_a_permission() -> None:
    undeclared = sorted(name for name, permissions in _root_fields().items() if not permissions)

    assert undeclared == []


def test_only_the_provider_directory_is_public() -> None:
    public = {name for name, permissions in _root_fields().items() if "public" in permissions}

    assert public == PUBLIC_FIELDS


def test_the_walk_sees_every_root_field() -> None:
    # Guards the walk itself: if it stopped finding fields, the two tests above would pass vacuously.
    assert {"Query.providers", "Query.viewer"} <= set(_root_fields())
