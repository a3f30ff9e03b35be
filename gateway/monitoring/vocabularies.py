"""The monitoring vocabularies as GraphQL enums from their StrEnums; see gateway.directory.vocabularies."""

from __future__ import annotations

import strawberry

from gateway.monitoring.service.figures import Rag

strawberry.enum(Rag, name="Rag", description="Red, amber or green: how an actual figure stands against its target.")

__all__ = ["Rag"]
