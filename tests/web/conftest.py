"""The portal's tests run in the portal world: the API world plus the portal's client and staff who sign in."""

pytest_plugins = ("tests.support.portal",)
