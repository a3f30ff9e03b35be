"""The portal world (the API world, the portal's client and staff who sign in) for the officer's portal page."""

from tests.support.portal import browsers, client, database_url, gateway, portal_templates, settings, world

__all__ = ["browsers", "client", "database_url", "gateway", "portal_templates", "settings", "world"]
