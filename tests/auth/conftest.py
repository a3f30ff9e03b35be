"""The authorisation-server world (organisations, a signing key, clients of each kind, staff) for these tests."""

from tests.support.auth import client, database_url, live_gateway, settings, world, world_templates

__all__ = ["client", "database_url", "live_gateway", "settings", "world", "world_templates"]
