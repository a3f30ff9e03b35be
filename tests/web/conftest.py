"""The portal's tests run in the portal world: the API world plus the portal's client and staff who sign in.

Imported rather than listed in `pytest_plugins`, which pytest refuses outside the top-level conftest; the hook
that runs browser tests in the browser's thread applies to this folder only.
"""

from tests.support.browser import chromium, pages, pytest_pyfunc_call, site
from tests.support.portal import browsers, client, database_url, gateway, portal_templates, settings, world

__all__ = [
    "browsers",
    "chromium",
    "client",
    "database_url",
    "gateway",
    "pages",
    "portal_templates",
    "pytest_pyfunc_call",
    "settings",
    "site",
    "world",
]
