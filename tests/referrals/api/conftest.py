"""The API world (demo organisations, a signing key, a machine client per role) for the referral API tests."""

from tests.support.api import api_templates, client, database_url, gateway, settings, world

__all__ = ["api_templates", "client", "database_url", "gateway", "settings", "world"]
